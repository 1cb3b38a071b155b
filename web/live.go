package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Live updates of the staff mail (/mail/events): a server-sent event stream
// per open mail page, fed by the same change notifications that wake held
// Pings (Deps.Changes, a push.Broker: the store's commit hook on SQLite,
// LISTEN/NOTIFY across nodes on PostgreSQL). An event carries only folder
// ids and unread counts, never mail content; static/live.js refreshes the
// tree's counts from it and fetches the message list again when the folder
// shown changed.
//
// A stream lasts no longer than the session token it was opened with (and
// so never past the session's absolute lifetime), and watching it is not
// activity: it does not renew the session, so the idle timeout still ends
// an unattended session. When the stream ends the browser reconnects with
// whatever cookie it now holds; a request without a valid session gets one
// "end" event, on which the page goes to sign-in. Sign-out and a password
// change on this node end the user's streams at once; on other nodes the
// session is re-checked at every keep-alive.

const (
	// liveKeepAlive is how often an idle stream sends a comment (so
	// proxies keep it open) and re-checks its session.
	liveKeepAlive = 20 * time.Second
	// liveSettle gathers the changes of one burst (a message moved is two
	// folders changing) into one event.
	liveSettle = 50 * time.Millisecond
	// liveRetry is how long the browser waits before reconnecting; a
	// refused stream asks for liveBusyRetry.
	liveRetry     = 2 * time.Second
	liveBusyRetry = time.Minute
	// Browsers open at most six HTTP/1.1 connections to a host; a few
	// streams per user leave the rest to the pages.
	livePerUser = 4
	livePerNode = 2000
)

// liveHub counts and ends the open streams of this node.
type liveHub struct {
	mu               sync.Mutex
	users            map[int64]map[*liveStream]struct{}
	n                int
	perUser, perNode int
}

// liveStream is one open stream; done closes to end it.
type liveStream struct {
	user int64
	done chan struct{}
	once sync.Once
}

func (l *liveStream) end() { l.once.Do(func() { close(l.done) }) }

// join registers a stream for the user, or refuses one past the bounds.
func (h *liveHub) join(userID int64) (*liveStream, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	perUser, perNode := h.perUser, h.perNode
	if perUser == 0 {
		perUser, perNode = livePerUser, livePerNode
	}
	if h.n >= perNode || len(h.users[userID]) >= perUser {
		return nil, false
	}
	if h.users == nil {
		h.users = map[int64]map[*liveStream]struct{}{}
	}
	if h.users[userID] == nil {
		h.users[userID] = map[*liveStream]struct{}{}
	}
	st := &liveStream{user: userID, done: make(chan struct{})}
	h.users[userID][st] = struct{}{}
	h.n++
	return st, true
}

func (h *liveHub) leave(st *liveStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.users[st.user][st]; !ok {
		return
	}
	delete(h.users[st.user], st)
	if len(h.users[st.user]) == 0 {
		delete(h.users, st.user)
	}
	h.n--
}

// endUser ends every stream of the user on this node (sign-out, password
// change); browsers still signed in reconnect.
func (h *liveHub) endUser(userID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for st := range h.users[userID] {
		st.end()
	}
}

// open returns the number of open streams (metrics, tests).
func (h *liveHub) open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// liveEvent is the data of a "mail" event.
type liveEvent struct {
	// Changed are the folders that changed; empty after a missed change
	// (everything may have changed).
	Changed []int64 `json:"changed"`
	// Unread are the unread counts of every mail folder, by id.
	Unread map[string]int64 `json:"unread"`
	// Tree: folders were made, renamed, moved or deleted.
	Tree bool `json:"tree,omitempty"`
}

// mailEvents serves the stream.
func (s *Server) mailEvents(c echo.Context) error {
	w := c.Response()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not hold events back
	id := ident(c)
	if id == nil || (id.needsMFA && !id.Claims.MFA) {
		// Not (or no longer) signed in: the page goes to sign-in.
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "retry: %d\nevent: end\ndata: signed-out\n\n", liveBusyRetry.Milliseconds())
		return nil
	}
	if s.d.Changes == nil {
		return c.NoContent(http.StatusNoContent) // the browser does not reconnect
	}
	st, ok := s.live.join(id.User.ID)
	if !ok {
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "retry: %d\nevent: busy\ndata: too many open pages\n\n", liveBusyRetry.Milliseconds())
		return nil
	}
	defer s.live.leave(st)
	return s.streamChanges(c, id, st)
}

func (s *Server) streamChanges(c echo.Context, id *identity, st *liveStream) error {
	ctx := c.Request().Context()
	uid := id.User.ID
	folders, err := s.mailFolderIDs(ctx, uid)
	if err != nil {
		return err
	}
	changes, cancel := s.d.Changes.Subscribe(uid, folders)
	defer func() { cancel() }()

	w := c.Response()
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: %d\n: open\n\n", liveRetry.Milliseconds())
	w.Flush()

	// The stream ends with the token it was opened with; the browser
	// reconnects with a renewed one if the user was active meanwhile.
	end := time.NewTimer(id.Claims.ExpiresAt.Sub(s.d.Now()))
	defer end.Stop()
	keep := time.NewTicker(liveKeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-st.done:
			return nil
		case <-end.C:
			return nil
		case <-keep.C:
			if !s.sessionStillValid(c) {
				return nil
			}
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			w.Flush()
		case v := <-changes:
			ev := s.settle(ctx, v, changes)
			if ev.Tree {
				// The folder list changed: watch the new one.
				if folders, err = s.mailFolderIDs(ctx, uid); err != nil {
					return err
				}
				cancel()
				changes, cancel = s.d.Changes.Subscribe(uid, folders)
			}
			if err := s.sendCounts(ctx, w, uid, ev); err != nil {
				return nil
			}
		}
	}
}

// settle gathers the changes arriving within liveSettle of the first.
func (s *Server) settle(ctx context.Context, first int64, changes <-chan int64) liveEvent {
	var ev liveEvent
	add := func(v int64) {
		switch {
		case v <= 0: // 0: the hierarchy; below: a resync after missed changes
			ev.Tree = true
		default:
			for _, x := range ev.Changed {
				if x == v {
					return
				}
			}
			ev.Changed = append(ev.Changed, v)
		}
	}
	add(first)
	t := time.NewTimer(liveSettle)
	defer t.Stop()
	for {
		select {
		case v := <-changes:
			add(v)
		case <-t.C:
			return ev
		case <-ctx.Done():
			return ev
		}
	}
}

// sendCounts writes a "mail" event with the unread counts as they are now.
func (s *Server) sendCounts(ctx context.Context, w *echo.Response, userID int64, ev liveEvent) error {
	tree, err := s.mailTree(ctx, userID, 0)
	if err != nil {
		return err
	}
	ev.Unread = make(map[string]int64, len(tree))
	for _, n := range tree {
		ev.Unread[strconv.FormatInt(n.ID, 10)] = n.Unread
	}
	if ev.Changed == nil {
		ev.Changed = []int64{}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: mail\ndata: %s\n\n", b); err != nil {
		return err
	}
	w.Flush()
	return nil
}

// mailFolderIDs lists the user's mail folders, the ones a stream watches.
func (s *Server) mailFolderIDs(ctx context.Context, userID int64) ([]int64, error) {
	all, err := s.store.Folders(ctx, userID)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for i := range all {
		if isMailFolder(&all[i]) {
			ids = append(ids, all[i].ID)
		}
	}
	return ids, nil
}

// sessionStillValid re-reads the request's session token against the user
// as stored now: signed out, password changed, disabled or expired
// elsewhere ends the stream.
func (s *Server) sessionStillValid(c echo.Context) bool {
	ck, err := c.Cookie(s.cookieName(sessionCookie))
	if err != nil {
		return false
	}
	_, err = s.parseToken(c.Request().Context(), ck.Value, audienceDashboard)
	return err == nil
}

// passiveRequest: a request the browser makes on its own (the event
// stream, the live refresh of the list), which must not count as the
// user's activity and so does not renew the session.
func passiveRequest(c echo.Context) bool {
	r := c.Request()
	return r.URL.Path == "/mail/events" || r.Header.Get("X-Airlock-Background") != ""
}
