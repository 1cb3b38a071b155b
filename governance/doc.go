// Package governance holds the health service's mail rules:
//
//   - Break-glass access (breakglass.go): access to another user's mailbox
//     without their permission, for a stated reason, that takes effect only
//     once two different people approve it, one holding the "hr_director"
//     role and one the "programme_head" role; it lasts a fixed time and the
//     owner is told when it ends unless both approvers recorded why not.
//     Every step is audited. Access reports whether it is in force.
//   - Delegates (delegates.go): an owner lets a colleague read their mail
//     or calendar, or send mail on their behalf.
//   - Quotas (quota.go): service levels set a mailbox size; delivery past it
//     is refused (SMTP 552 5.2.2, EAS Status 113/115) and users are warned
//     once when they pass 90%.
//   - Secure domains (secure.go): mail marked sensitive (a subject tag) to
//     a domain not accredited for it is held for an admin to release or
//     drop, and the sender is told why.
//   - The tag line (tagline.go): an organisation-wide footer on mail that
//     leaves the organisation, once per reply chain, never inside signed or
//     encrypted content.
//
// Rules (rules.go) is the hook package delivery calls on every submission
// and inbound delivery; package imapgw and the SMS gateway use Access and
// the store directly.
//
// # Implementation notes
//
// The two-person rule is enforced three times over: decideApproval (pure,
// table-tested) refuses the requester, the owner, a second approval by the
// same person and an approver without an unfilled required role; it runs
// inside the approving transaction with the request row locked, so two
// approvals cannot race past it; and the breakglass_approvals keys
// (request, approver) and (request, role) make the database refuse a
// second approval by one person or a second approval in one role even if
// the code were wrong. A person holding both roles can fill only one of
// them (the key on (request, approver)), so they never count twice. Being a
// dashboard admin grants nothing here.
//
// Governance roles are granted from the command line (shell access to the
// server and its database is the root of trust); each grant and revocation
// is audited. Approvals from the command line need the approver's own
// password, so shell access alone does not let one person approve as two.
//
// Quota checks run inside the store transaction that writes the mail (see
// store/quota.go); the checks here before it only choose who to refuse
// early with a clear message, they do not decide alone.
package governance
