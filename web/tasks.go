package web

// Personal tasks (/tasks): the tasks the user's phones sync, with start
// and due dates, importance, a repeat pattern and completion. Writes go
// through the store calls the diary uses (AddItemWithinQuota, ReplaceItem,
// DeleteItem), and ticking a task done through pim.CompleteTask, the code
// that moves a recurring series on after a phone completes it: the done
// occurrence is kept as a task of its own and the series moves to its
// next date, in one transaction, and every phone gets both at its next
// Sync.
//
// Dates are whole days in the user's time zone (the diary's setting):
// stored as that day's midnight there, with the same wall-clock date kept
// beside it as EAS sends it (MS-ASTASK StartDate and DueDate).

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/teambition/rrule-go"

	"airlock/pim"
	"airlock/store"
)

// tasksPageSize is the number of tasks on one page of the list.
const tasksPageSize = 50

func (s *Server) taskRoutes(h *echo.Group) {
	g := h.Group("/tasks", s.requireUser)
	g.GET("", s.taskList)
	g.POST("", s.taskSave)
	g.GET("/new", s.taskNew)
	g.GET("/:id", s.taskEdit)
	g.POST("/:id/:action", s.taskAction)
}

// taskRow is one line of the list.
type taskRow struct {
	ID        int64
	Subject   string
	Due       string
	Start     string
	Overdue   bool
	High, Low bool
	Repeats   string
	Done      string // when completed, or ""
	due       *time.Time
	done      *time.Time
}

// URL is the task's page.
func (r taskRow) URL() string { return "/tasks/" + strconv.FormatInt(r.ID, 10) }

func isTasksFolder(f *store.Folder) bool { return f.Class == store.ClassTasks }

// userTasks reads the user's tasks, open or done, in list order: open
// ones by due date (undated last), done ones most recent first.
func (s *Server) userTasks(ctx context.Context, userID int64, done bool, loc *time.Location, now time.Time) ([]taskRow, error) {
	folders, err := s.store.Folders(ctx, userID)
	if err != nil {
		return nil, err
	}
	var rows []taskRow
	for i := range folders {
		if !isTasksFolder(&folders[i]) {
			continue
		}
		for after := int64(0); ; {
			items, err := s.store.ListItems(ctx, userID, folders[i].ID, after, 1000)
			if err != nil {
				return nil, err
			}
			for j := range items {
				var t pim.Task
				if t.FromItem(&items[j]) != nil || t.Complete != done {
					continue
				}
				rows = append(rows, rowOfTask(items[j].ID, &t, loc, now))
			}
			if len(items) < 1000 {
				break
			}
			after = items[len(items)-1].ID
		}
	}
	slices.SortFunc(rows, func(a, b taskRow) int {
		x, y := a.due, b.due
		if done {
			x, y = b.done, a.done
		}
		switch {
		case x == nil && y != nil:
			return 1
		case x != nil && y == nil:
			return -1
		case x != nil && !x.Equal(*y):
			return x.Compare(*y)
		}
		if c := strings.Compare(strings.ToLower(a.Subject), strings.ToLower(b.Subject)); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return rows, nil
}

func rowOfTask(id int64, t *pim.Task, loc *time.Location, now time.Time) taskRow {
	r := taskRow{ID: id, Subject: nonEmpty(t.Subject, "(no subject)"), High: t.Importance == pim.ImportanceHigh,
		Low: t.Importance == pim.ImportanceLow, Repeats: repeatsText(t), due: t.Due, done: t.DateCompleted}
	if d := taskDate(t.Due, t.LocalDue, loc); d != "" {
		r.Due = dayLabel(d)
		today := now.In(loc).Format(time.DateOnly)
		r.Overdue = !t.Complete && d < today
	}
	if d := taskDate(t.Start, t.LocalStart, loc); d != "" {
		r.Start = dayLabel(d)
	}
	if t.DateCompleted != nil {
		r.Done = t.DateCompleted.In(loc).Format("2 Jan 2006")
	}
	return r
}

// taskDate is a task date as YYYY-MM-DD: the wall-clock date EAS sent
// beside the instant when there is one, else the instant's date in loc.
func taskDate(utc, local *time.Time, loc *time.Location) string {
	switch {
	case local != nil:
		return local.UTC().Format(time.DateOnly)
	case utc != nil:
		return utc.In(loc).Format(time.DateOnly)
	}
	return ""
}

func dayLabel(date string) string {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return date
	}
	return d.Format("Mon 2 Jan 2006")
}

// repeatsText says how a series repeats, "" for a single task.
func repeatsText(t *pim.Task) string {
	if t.RRule == "" || t.RecurDeadOccur {
		return ""
	}
	opt, err := rrule.StrToROption(t.RRule)
	if err != nil {
		return "Repeats"
	}
	unit := map[rrule.Frequency]string{rrule.DAILY: "day", rrule.WEEKLY: "week", rrule.MONTHLY: "month", rrule.YEARLY: "year"}[opt.Freq]
	if unit == "" {
		return "Repeats"
	}
	txt := "Every " + unit
	if opt.Interval > 1 {
		txt = "Every " + strconv.Itoa(opt.Interval) + " " + unit + "s"
	}
	if t.RecurRegenerate {
		txt += " after it is done"
	}
	return txt
}

type taskListData struct {
	Done                       bool
	Rows                       []taskRow
	Total                      int64
	NextURL, PrevURL, FirstURL string
	OpenURL, DoneURL           string
}

func (s *Server) taskList(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	_, loc := s.userZone(ctx, me.ID)
	done := c.QueryParam("show") == "done"
	rows, err := s.userTasks(ctx, me.ID, done, loc, s.d.Now())
	if err != nil {
		return err
	}
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	start, end := pageBounds(rows, func(r taskRow) int64 { return r.ID }, after, before, tasksPageSize)
	d := &taskListData{Done: done, Rows: rows[start:end], Total: int64(len(rows)), OpenURL: "/tasks", DoneURL: "/tasks?show=done"}
	base := d.OpenURL + "?"
	if done {
		base = d.DoneURL + "&"
	}
	if end < len(rows) && end > start {
		d.NextURL = base + "after=" + strconv.FormatInt(rows[end-1].ID, 10)
	}
	if start > 0 && end > start {
		d.PrevURL = base + "before=" + strconv.FormatInt(rows[start].ID, 10)
	}
	if start > 0 {
		d.FirstURL = strings.TrimSuffix(strings.TrimSuffix(base, "?"), "&")
	}
	return s.render(c, http.StatusOK, "tasks.html", "Tasks", d)
}

// taskForm is the add/change form.
type taskForm struct {
	ID                 int64
	Subject, Body      string
	Start, Due         string // dates
	Importance         int
	Freq               string // "", daily, weekly, monthly, yearly
	Interval           int
	Regenerate         bool
	Ends               string // never, count, until
	Count              int
	Until              string
	Complete           bool
	Completed, Repeats string // shown on an existing task
	Errors             map[string]string
}

// Error is one field's error, for the template.
func (f *taskForm) Error(field string) string { return f.Errors[field] }

func (f *taskForm) fail(field, msg string) {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = msg
	}
}

func taskFormOf(id int64, t *pim.Task, loc *time.Location) *taskForm {
	f := &taskForm{ID: id, Subject: t.Subject, Body: t.Body, Importance: t.Importance, Interval: 1, Ends: "never",
		Start: taskDate(t.Start, t.LocalStart, loc), Due: taskDate(t.Due, t.LocalDue, loc), Complete: t.Complete,
		Regenerate: t.RecurRegenerate, Repeats: repeatsText(t)}
	if t.DateCompleted != nil {
		f.Completed = t.DateCompleted.In(loc).Format("Monday 2 January 2006")
	}
	if t.RRule != "" && !t.RecurDeadOccur {
		if opt, err := rrule.StrToROption(t.RRule); err == nil {
			f.Freq = map[rrule.Frequency]string{rrule.DAILY: "daily", rrule.WEEKLY: "weekly", rrule.MONTHLY: "monthly", rrule.YEARLY: "yearly"}[opt.Freq]
			f.Interval = max(opt.Interval, 1)
			switch {
			case opt.Count > 0:
				f.Ends, f.Count = "count", opt.Count
			case !opt.Until.IsZero():
				f.Ends, f.Until = "until", opt.Until.In(loc).Format(time.DateOnly)
			}
		}
	}
	return f
}

func taskFormFrom(c echo.Context) *taskForm {
	v := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f := &taskForm{Subject: v("subject"), Body: strings.TrimSpace(strings.ReplaceAll(c.FormValue("body"), "\r\n", "\n")),
		Start: v("start"), Due: v("due"), Freq: v("freq"), Regenerate: v("regenerate") == "1",
		Ends: nonEmpty(v("ends"), "never"), Until: v("until")}
	f.ID, _ = strconv.ParseInt(v("id"), 10, 64)
	f.Importance, _ = strconv.Atoi(nonEmpty(v("importance"), "1"))
	f.Interval, _ = strconv.Atoi(nonEmpty(v("interval"), "1"))
	f.Count, _ = strconv.Atoi(v("count"))
	return f
}

// apply checks the form and writes it over t, keeping what the form does
// not show (reminder, categories, sensitivity). Every error is recorded.
func (f *taskForm) apply(t *pim.Task, loc *time.Location) {
	switch n := utf8.RuneCountInString(f.Subject); {
	case n == 0:
		f.fail("subject", "Say what the task is.")
	case n > 255:
		f.fail("subject", "At most 255 characters.")
	}
	if len(f.Body) > 32000 {
		f.fail("body", "Notes are limited to 32,000 characters.")
	}
	if f.Importance < pim.ImportanceLow || f.Importance > pim.ImportanceHigh {
		f.fail("importance", "Choose low, normal or high.")
	}
	start, localStart := f.date("start", f.Start, loc)
	due, localDue := f.date("due", f.Due, loc)
	if start != nil && due != nil && due.Before(*start) {
		f.fail("due", "The due date cannot be before the start date.")
	}
	rule := ""
	if f.Freq != "" {
		anchor := firstTime(start, due)
		if anchor == nil {
			f.fail("freq", "A repeating task needs a start or due date.")
		} else {
			// The diary's pattern builder: the same RRULE forms, checked
			// the same way.
			ef := eventForm{Freq: f.Freq, Interval: f.Interval, Ends: f.Ends, Count: f.Count, Until: f.Until}
			rule = ef.rule(*anchor, loc)
			for k, msg := range ef.Errors {
				f.fail(k, msg)
			}
		}
	}
	if rule != t.RRule || f.Regenerate != t.RecurRegenerate {
		t.RecurDeadOccur = false // a new pattern runs again
	}
	t.Subject, t.Body, t.Importance = f.Subject, f.Body, f.Importance
	t.Start, t.LocalStart, t.Due, t.LocalDue = start, localStart, due, localDue
	t.RRule, t.RecurRegenerate = rule, f.Regenerate && rule != ""
}

// date reads a form date as that day's midnight in loc, and the same
// wall-clock date as EAS writes it.
func (f *taskForm) date(field, v string, loc *time.Location) (*time.Time, *time.Time) {
	if v == "" {
		return nil, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil || d.Year() < 1900 || d.Year() > 2999 {
		f.fail(field, "Give a date such as 2026-03-31.")
		return nil, nil
	}
	utc := d.UTC()
	wall := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	return &utc, &wall
}

func firstTime(a, b *time.Time) *time.Time {
	if a != nil {
		return a
	}
	return b
}

// userTask returns the user's task named by id, or 404.
func (s *Server) userTask(ctx context.Context, userID int64, param string) (*store.Item, *pim.Task, error) {
	id, err := strconv.ParseInt(param, 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such task.")
	}
	it, err := s.store.ItemByID(ctx, userID, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && it.Class != store.ClassTasks {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "This task is no longer here: it may have been deleted on another device.")
	}
	if err != nil {
		return nil, nil, err
	}
	var t pim.Task
	if err := t.FromItem(it); err != nil {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "This task cannot be read.")
	}
	return it, &t, nil
}

func (s *Server) taskNew(c echo.Context) error {
	return s.render(c, http.StatusOK, "task.html", "New task", &taskForm{Importance: pim.ImportanceNormal, Interval: 1, Ends: "never"})
}

func (s *Server) taskEdit(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	it, t, err := s.userTask(ctx, me.ID, c.Param("id"))
	if err != nil {
		return err
	}
	_, loc := s.userZone(ctx, me.ID)
	return s.render(c, http.StatusOK, "task.html", t.Subject, taskFormOf(it.ID, t, loc))
}

// taskSave adds a task to the default Tasks folder, or changes one (id in
// the form).
func (s *Server) taskSave(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	_, loc := s.userZone(ctx, me.ID)
	f := taskFormFrom(c)
	t := &pim.Task{Importance: pim.ImportanceNormal}
	var cur *store.Item
	if f.ID != 0 {
		it, old, err := s.userTask(ctx, me.ID, strconv.FormatInt(f.ID, 10))
		if err != nil {
			return err
		}
		cur, t = it, old
		f.Complete = t.Complete
	}
	f.apply(t, loc)
	if len(f.Errors) > 0 {
		return s.render(c, http.StatusUnprocessableEntity, "task.html", "Task not saved", f)
	}
	folderID, err := s.personalFolder(ctx, me.ID, cur, store.FolderTasks)
	if err != nil {
		return err
	}
	it, err := t.ToItem(me.ID, folderID)
	if err != nil {
		f.fail("subject", "This task cannot be saved: check its dates and pattern.")
		return s.render(c, http.StatusUnprocessableEntity, "task.html", "Task not saved", f)
	}
	err = s.savePersonalItem(ctx, cur, it)
	if errors.Is(err, errMailboxFull) {
		f.fail("subject", "Your mailbox is full: delete something before adding tasks.")
		return s.render(c, http.StatusUnprocessableEntity, "task.html", "Task not saved", f)
	}
	if err != nil {
		return err
	}
	s.flash(c, "Task saved.")
	return c.Redirect(http.StatusSeeOther, "/tasks")
}

// taskAction completes, reopens or deletes a task.
func (s *Server) taskAction(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	it, t, err := s.userTask(ctx, me.ID, c.Param("id"))
	if err != nil {
		return err
	}
	back := "/tasks"
	switch c.Param("action") {
	case "complete":
		// A recurring task moves on to its next date, exactly as when a
		// phone completes it.
		err = pim.CompleteTask(ctx, s.store, me.ID, it.ID, s.d.Now())
		msg := "Task done."
		if t.Recurs() && !t.Complete {
			msg += " The next one is in your list."
		}
		s.flash(c, msg)
	case "reopen":
		if t.Complete {
			t.Complete, t.DateCompleted = false, nil
			var repl *store.Item
			if repl, err = t.ToItem(me.ID, it.FolderID); err == nil {
				repl.ID = it.ID
				err = s.store.ReplaceItem(ctx, repl)
			}
		}
		s.flash(c, "Task open again.")
		back = "/tasks?show=done"
	case "delete":
		err = s.store.DeleteItem(ctx, me.ID, it.ID)
		s.flash(c, "Task deleted.")
	default:
		return echo.NewHTTPError(http.StatusNotFound, "No such action.")
	}
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "This task is no longer here: it may have been deleted on another device.")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, back)
}

// errMailboxFull: a personal item (contact, task) would take the user over
// their quota.
var errMailboxFull = errors.New("mailbox full")

// personalFolder is the folder a contact or task form saves into: the
// item's own, or the user's default folder of that type for a new one.
func (s *Server) personalFolder(ctx context.Context, userID int64, cur *store.Item, typ store.FolderType) (int64, error) {
	if cur != nil {
		return cur.FolderID, nil
	}
	fo, err := s.store.FolderByType(ctx, userID, typ)
	if err != nil {
		return 0, err
	}
	return fo.ID, nil
}

// savePersonalItem stores a contact or task from the web: it replaces cur,
// or adds a new item within the quota (errMailboxFull when it does not fit).
func (s *Server) savePersonalItem(ctx context.Context, cur, it *store.Item) error {
	var err error
	if cur != nil {
		it.ID = cur.ID
		err = s.store.ReplaceItem(ctx, it)
	} else {
		err = s.store.AddItemWithinQuota(ctx, it, nil)
	}
	var qe *store.QuotaError
	if errors.As(err, &qe) || errors.Is(err, store.ErrQuotaExceeded) {
		return errMailboxFull
	}
	return err
}
