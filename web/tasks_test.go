package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

// TestTasksReachPhones: a task made in the web reaches the phone; a
// recurring one completed in the web moves on through the same code as a
// phone's completion (the done occurrence kept, the series a week on),
// and the phone gets both; reopening and deleting reach it too.
func TestTasksReachPhones(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		const pw = "tasks-pass-1"
		u := e.addUser("sister@example.nhs.uk", pw, store.RoleUser)
		ph := newPhone(t, e.URL, u.Email, pw)
		ph.sync("Tasks")
		b := e.browser()
		b.login(u.Email, pw)

		// Every error at once, next to its field.
		r := b.postForm("/tasks/new", "/tasks", url.Values{"subject": {""}, "freq": {"weekly"}, "start": {"2026-02-30"}})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="subject-err"`) || !strings.Contains(r.Body, `id="start-err"`) ||
			!strings.Contains(r.Body, "A repeating task needs a start or due date.") {
			t.Fatalf("bad task: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		r = b.postForm("/tasks/new", "/tasks", url.Values{"subject": {"x"}, "start": {"2026-03-10"}, "due": {"2026-03-09"}})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "The due date cannot be before the start date.") {
			t.Fatalf("due before start: HTTP %d", r.Code)
		}

		// A weekly task, due on Monday 2 March 2026 (London).
		r = b.postForm("/tasks/new", "/tasks", url.Values{"subject": {"Controlled drugs check"}, "due": {"2026-03-02"}, "importance": {"2"},
			"freq": {"weekly"}, "interval": {"1"}, "ends": {"never"}, "body": {"Both cupboards."}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("add: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		r = b.postForm("/tasks/new", "/tasks", url.Values{"subject": {"Book annual leave"}, "importance": {"1"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("add: HTTP %d", r.Code)
		}
		cmds := ph.sync("Tasks")
		x := xmlOf(cmds)
		if count(cmds, "Add") != 2 || !strings.Contains(x, "Controlled drugs check") || !strings.Contains(x, "2026-03-02T00:00:00.000Z") || !strings.Contains(x, "<Tasks:Importance>2</Tasks:Importance>") {
			t.Fatalf("the phone's Sync after the adds: %s", x)
		}
		list := b.get("/tasks")
		if !strings.Contains(list.Body, "Controlled drugs check") || !strings.Contains(list.Body, "Every week") || !strings.Contains(list.Body, "Mon 2 Mar 2026") {
			t.Fatalf("the list:\n%s", mainOf(list.Body))
		}
		series := taskBySubject(t, st, u, "Controlled drugs check", false)

		// Done in the web: the series moves on a week; the done one stays.
		if r := b.postForm("/tasks", fmt.Sprintf("/tasks/%d/complete", series.ID), nil); r.Code != http.StatusSeeOther {
			t.Fatalf("complete: HTTP %d", r.Code)
		}
		var next pim.Task
		it, _ := st.ItemByID(ctx, u.ID, series.ID)
		next.FromItem(it)
		london, _ := time.LoadLocation("Europe/London")
		if next.Complete || next.Due == nil || !next.Due.Equal(time.Date(2026, 3, 9, 0, 0, 0, 0, london)) {
			t.Fatalf("the series after completion: complete %v due %v", next.Complete, next.Due)
		}
		done := taskBySubject(t, st, u, "Controlled drugs check", true)
		if done.ID == series.ID {
			t.Fatal("no separate done occurrence")
		}
		cmds = ph.sync("Tasks")
		if count(cmds, "Add") != 1 || count(cmds, "Change") != 1 || !strings.Contains(xmlOf(cmds), "2026-03-09") {
			t.Fatalf("the phone's Sync after completion: %s", xmlOf(cmds))
		}
		if list := b.get("/tasks?show=done"); !strings.Contains(list.Body, "Controlled drugs check") {
			t.Fatal("the done occurrence is not in the done list")
		}
		if list := b.get("/tasks"); !strings.Contains(list.Body, "Mon 9 Mar 2026") {
			t.Fatal("the series' next date is not in the list")
		}

		// A single task: done, open again, deleted; each reaches the phone.
		single := taskBySubject(t, st, u, "Book annual leave", false)
		for _, step := range []struct{ action, cmd string }{{"complete", "Change"}, {"reopen", "Change"}, {"delete", "Delete"}} {
			if r := b.postForm("/tasks", fmt.Sprintf("/tasks/%d/%s", single.ID, step.action), nil); r.Code != http.StatusSeeOther {
				t.Fatalf("%s: HTTP %d", step.action, r.Code)
			}
			if cmds := ph.sync("Tasks"); count(cmds, step.cmd) != 1 {
				t.Fatalf("the phone's Sync after %s: %s", step.action, xmlOf(cmds))
			}
		}

		// A change keeps the reminder a phone set.
		rem := time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)
		next.Reminder = &rem
		repl, _ := next.ToItem(u.ID, it.FolderID)
		repl.ID = it.ID
		if err := st.ReplaceItem(ctx, repl); err != nil {
			t.Fatal(err)
		}
		form := b.get(fmt.Sprintf("/tasks/%d", series.ID))
		if !strings.Contains(form.Body, `value="2026-03-09"`) || !strings.Contains(form.Body, `<option value="weekly" selected>`) {
			t.Fatalf("the form of the series:\n%s", mainOf(form.Body))
		}
		r = b.postForm(fmt.Sprintf("/tasks/%d", series.ID), "/tasks", url.Values{"id": {fmt.Sprint(series.ID)}, "subject": {"Controlled drugs check (both wards)"},
			"due": {"2026-03-09"}, "importance": {"2"}, "freq": {"weekly"}, "interval": {"1"}, "ends": {"count"}, "count": {"3"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("change: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		it, _ = st.ItemByID(ctx, u.ID, series.ID)
		next = pim.Task{}
		next.FromItem(it)
		if next.Reminder == nil || !next.Reminder.Equal(rem) || !strings.Contains(next.RRule, "COUNT=3") {
			t.Fatalf("after the change: reminder %v rule %q", next.Reminder, next.RRule)
		}

		// Another user's task is not found.
		o := e.addUser("other@example.nhs.uk", "other-pass-1", store.RoleUser)
		theirs := pim.Task{Subject: "Private errand"}
		ti, _ := theirs.ToItem(o.ID, folderOf(t, st, o, store.FolderTasks).ID)
		if err := st.AddItem(ctx, ti, nil); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/complete", "/delete"} {
			if r := b.postForm("/tasks", fmt.Sprintf("/tasks/%d%s", ti.ID, path), nil); r.Code != http.StatusNotFound {
				t.Fatalf("%s on another user's task: HTTP %d", path, r.Code)
			}
		}
		if r := b.get(fmt.Sprintf("/tasks/%d", ti.ID)); r.Code != http.StatusNotFound || strings.Contains(r.Body, "Private errand") {
			t.Fatalf("another user's task: HTTP %d", r.Code)
		}
	})
}

func taskBySubject(t *testing.T, st *store.Store, u *store.User, subject string, complete bool) *store.Item {
	t.Helper()
	items, err := st.ListItems(context.Background(), u.ID, folderOf(t, st, u, store.FolderTasks).ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		var tk pim.Task
		if tk.FromItem(&items[i]) == nil && tk.Subject == subject && tk.Complete == complete {
			return &items[i]
		}
	}
	t.Fatalf("no task %q (complete %v)", subject, complete)
	return nil
}
