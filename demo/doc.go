// Package demo seeds an empty store with a small, realistic NHS-style
// organisation, so that a new installation (or a sales demonstration, or a
// developer's laptop) has something to sync to a phone straight away:
// staff with directory details, an administrator, a consultant's mailbox
// with threads, attachments and a meeting request, a calendar with a weekly
// recurring meeting, contacts, tasks and notes.
//
// Every person, practice and telephone number is fictional: numbers come
// from Ofcom's ranges reserved for drama (020 7946 0xxx, 07700 900xxx), and
// no message mentions a real patient.
//
// Messages are built with go-message (mail.CreateWriter and friends), so
// their MIME is what a real client would send, then parsed by package
// message like any delivered mail, and stored with store.Deliver: one blob
// shared by the sender's Sent Items and every local recipient's Inbox.
//
// Seed refuses to run on a store that already has users (ErrNotEmpty), so
// it can never mix demo data into a live organisation. It is not atomic: a
// failure halfway leaves what was written, and the store must be recreated.
// Dates are relative to the moment of seeding, so the mailbox always looks
// current.
package demo
