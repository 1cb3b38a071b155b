#!/usr/bin/env python3
"""Writes internal/password/common.txt, the deny-list of common passwords.

Generated from well-known patterns (NCSC: block the most common passwords):
common words and names, health-service and product words, keyboard walks,
digit runs and repeats, each with the suffixes people add (digits, years,
"!"), and season/month + year passwords that rotation policies breed.
Nothing is downloaded. Run from the repository root.
"""
words = """password passw0rd p@ssword p@ssw0rd qwerty qwertyuiop asdfghjkl zxcvbnm letmein welcome admin administrator root iloveyou monkey dragon football baseball sunshine princess master shadow superman batman trustno1 starwars whatever freedom charlie michael jennifer jordan hunter ranger buster soccer hockey killer george harley andrew thomas robert daniel jessica ashley summer winter spring autumn london manchester liverpool chelsea arsenal england scotland wales ireland britain nhs nhsmail nhsuser hospital nurse doctor health healthcare patient clinic surgery ward matron consultant theatre pharmacy medicine medical trust airlock email mailbox outlook exchange office changeme default secret login access guest user test testing temp temporary abc123 abcdef abcdefgh abcd1234 qazwsx 1qaz2wsx zaq12wsx qweasd qweasdzxc asdf1234 pass1234 mypassword newpassword oldpassword computer internet samsung apple google microsoft windows linux hello love lovely loveme family friends flower purple orange yellow silver golden diamond cookie chocolate banana cheese pepper ginger maggie bailey daisy molly teddy tigger snoopy pokemon matrix mustang ferrari porsche mercedes jaguar""".split()
seqs = "123456 1234567 12345678 123456789 1234567890 12345678910 123123123 121212 654321 987654321 0987654321 112233 696969 147258369 159753 789456123 1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6y q1w2e3r4 qwer1234 1234qwer abc12345".split()
years = [str(y) for y in range(2006, 2031)]
suffixes = ["", "1", "12", "123", "1234", "12345", "123456", "!", "1!", "123!", "01", "11", "99", "2", "69", "007", "!!", "@123", "#1"]
out = set(seqs)
for w in words:
    out.update(w + s for s in suffixes)
    for y in years:
        out.update([w + y, w + y + "!", w + "@" + y])
for n in range(6, 17):
    out.update(d * n for d in "0123456789")
    out.update(c * n for c in "abcxyzqwe")
    out.add(("1234567890" * 2)[:n])
    out.add(("0987654321" * 2)[:n])
for w in "january february march april may june july august september october november december".split():
    for y in years:
        out.update([w + y, w + y + "!", w + "@" + y])
out = sorted(x.lower() for x in out if len(x) >= 6)
with open("internal/password/common.txt", "w") as f:
    f.write("\n".join(out) + "\n")
print(len(out), "passwords")
