package wbxml

import (
	"fmt"
	"strings"
	"testing"
)

// TestCodePagesOneToOne proves that within every code page the name <-> token
// map is one-to-one, that tokens are in 0x05..0x3F, and that lookups in both
// directions agree. It checks the raw tables, not only the maps built from
// them.
func TestCodePagesOneToOne(t *testing.T) {
	if len(allPages) != 26 {
		t.Fatalf("%d code pages, want 26 (0..25)", len(allPages))
	}
	for i, p := range allPages {
		if int(p.id) != i {
			t.Errorf("allPages[%d] is page %d", i, p.id)
		}
		if want := fmt.Sprintf("2.1.2.1.%d", i+1); p.section != want {
			t.Errorf("page %d section %s, want %s", i, p.section, want)
		}
		byTok := map[byte]string{}
		byName := map[string]byte{}
		for _, d := range p.tags {
			if d.token < 0x05 || d.token > 0x3F {
				t.Errorf("%s:%s token 0x%02X out of range", p.name, d.name, d.token)
			}
			if prev, dup := byTok[d.token]; dup {
				t.Errorf("%s token 0x%02X is both %s and %s", p.name, d.token, prev, d.name)
			}
			if prev, dup := byName[d.name]; dup {
				t.Errorf("%s name %s is both 0x%02X and 0x%02X", p.name, d.name, prev, d.token)
			}
			byTok[d.token], byName[d.name] = d.name, d.token
			tag, ok := LookupTag(p.name, d.name)
			if !ok || tag != (Tag{p.id, d.token}) {
				t.Errorf("LookupTag(%s, %s) = %v, %v", p.name, d.name, tag, ok)
			}
			if got := tag.String(); got != p.name+":"+d.name {
				t.Errorf("Tag{%d,0x%02X}.String() = %s", p.id, d.token, got)
			}
		}
		for tok := 0; tok < 64; tok++ {
			name, defined := byTok[byte(tok)]
			tag := Tag{p.id, byte(tok)}
			if tag.Valid() != defined || tag.Local() != name {
				t.Errorf("page %s token 0x%02X: Valid=%v Local=%q, table says %q", p.name, tok, tag.Valid(), tag.Local(), name)
			}
		}
	}
	// Pages not defined by MS-ASWBXML are unknown.
	for id := 26; id < 256; id++ {
		if (Tag{byte(id), 0x05}).Valid() {
			t.Errorf("page %d should be unknown", id)
		}
	}
}

// TestStatusOnEveryPage: the same local name on different pages is a
// different tag, and names always resolve with their page.
func TestStatusOnEveryPage(t *testing.T) {
	pages := map[string]byte{}
	for _, p := range CodePages() {
		if tag, ok := LookupTag(p.Name, "Status"); ok {
			if tag.Page != p.ID || tag.Space() != p.Name {
				t.Errorf("Status on %s resolved to %v", p.Name, tag)
			}
			pages[p.Name] = tag.Token
		}
	}
	want := "AirNotify AirSync AirSyncBase ComposeMail Email Find FolderHierarchy GAL GetItemEstimate ItemOperations MeetingResponse Move Ping Provision ResolveRecipients Search Settings ValidateCert"
	var got []string
	for _, p := range CodePages() {
		if _, ok := pages[p.Name]; ok {
			got = append(got, p.Name)
		}
	}
	if g := strings.Join(sortedCopy(got), " "); g != want {
		t.Errorf("pages with Status: %s\nwant %s", g, want)
	}
	if _, ok := ParseTag("Status"); ok {
		t.Error("a bare name must not resolve")
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// TestTablesMatchSpecExcerpts compares pages against token lists copied from
// the MS-ASWBXML pages on learn.microsoft.com (sections 2.1.2.1.11, .13, .26
// and the Sync example of section 3), an independent source from the tables.
func TestTablesMatchSpecExcerpts(t *testing.T) {
	spec := map[string]string{
		"ResolveRecipients": "05 ResolveRecipients 06 Response 07 Status 08 Type 09 Recipient 0A DisplayName 0B EmailAddress 0C Certificates 0D Certificate 0E MiniCertificate 0F Options 10 To 11 CertificateRetrieval 12 RecipientCount 13 MaxCertificates 14 MaxAmbiguousRecipients 15 CertificateCount 16 Availability 17 StartTime 18 EndTime 19 MergedFreeBusy 1A Picture 1B MaxSize 1C Data 1D MaxPictures",
		"Contacts2":         "05 CustomerId 06 GovernmentId 07 IMAddress 08 IMAddress2 09 IMAddress3 0A ManagerName 0B CompanyMainPhone 0C AccountName 0D NickName 0E MMS",
		"Find":              "05 Find 06 SearchId 07 ExecuteSearch 08 MailBoxSearchCriterion 09 Query 0A Status 0B FreeText 0C Options 0D Range 0E DeepTraversal 11 Response 12 Result 13 Properties 14 Preview 15 HasAttachments 16 Total 17 DisplayCc 18 DisplayBcc 19 GalSearchCriterion 20 MaxPictures 21 MaxSize 22 Picture",
	}
	for page, list := range spec {
		var got []string
		for _, p := range CodePages() {
			if p.Name == page {
				for _, tag := range p.Tags {
					got = append(got, fmt.Sprintf("%02X %s", tag.Token, tag.Local()))
				}
			}
		}
		if g := strings.Join(got, " "); g != list {
			t.Errorf("%s:\n got %s\nwant %s", page, g, list)
		}
	}
}

func TestOpaqueList(t *testing.T) {
	var got []string
	for _, p := range CodePages() {
		for _, tag := range p.Tags {
			if tag.Opaque() {
				got = append(got, tag.String())
			}
		}
	}
	want := "ResolveRecipients:Data Search:ConversationId GAL:Data AirSyncBase:Content ItemOperations:ConversationId ComposeMail:Mime Email2:ConversationId Email2:ConversationIndex"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("opaque tags %s, want %s", g, want)
	}
}
