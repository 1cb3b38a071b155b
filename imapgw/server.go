// Package imapgw serves IMAP to desktop mail clients on the organisation's
// internal networks, backed by the same store as ActiveSync: a message read
// or flagged in Thunderbird is read or flagged on the phone, and the other
// way round.
//
// It is github.com/emersion/go-imap/v2's imapserver with a Session over the
// store. The listener is wrapped by internal/netallow (connections from
// outside the configured networks are closed at accept and audited), and
// TLS is required: implicit TLS, or STARTTLS with LOGINDISABLED until it.
//
// Mailboxes: the user's mail folders (INBOX and the others by their path,
// "/" separated) and, under "Other Users/<address>/", the mail folders of
// anyone whose mailbox they may open by delegation or break-glass
// (governance.Service.MailboxAccess). Those open read-only: flags cannot be
// changed and reading does not mark anything read for the owner. Every
// open of another user's mailbox is audited, as are logins.
//
// # Implementation notes
//
// UIDs are item ids. Item ids only grow, a new or moved item gets a new
// one, and a folder's items are listed in id order, so UIDs in a mailbox
// strictly ascend as RFC 3501 2.3.1.1 requires; UIDVALIDITY is the folder
// id, which never changes for a folder. (Ids above 2^32 would break this:
// far beyond any deployment.)
//
// A selected mailbox is a snapshot of its UIDs plus the folder's change
// counter. Poll (NOOP, IDLE, after most commands) asks the store for the
// changes since that counter (store.ChangesSince, the same query as an EAS
// Sync) and reports new messages (EXISTS), flag changes (FETCH) and
// deletions (EXPUNGE, only when the command allows it), so changes made by
// phones reach the desktop client. IDLE polls every PollInterval.
//
// \Seen is the item's Read, \Flagged is FlagStatus 2 (active), \Answered is
// a LastVerb of reply, \Draft is IsDraft; setting them goes through
// store.UpdateItem, which bumps the change counter so phones pick the
// change up. \Deleted lives in the session only until EXPUNGE, which
// deletes the items (a tombstone, like an EAS delete).
package imapgw

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"airlock/governance"
	"airlock/store"
)

// Access says whose mailboxes a user may open besides their own;
// governance.Service implements it.
type Access interface {
	MailboxAccess(ctx context.Context, actorID, ownerID int64) (governance.Grant, bool)
	SharedMailboxes(ctx context.Context, actorID int64) ([]governance.Grant, error)
}

// Config configures the server.
type Config struct {
	Store *store.Store
	// Access grants other users' mailboxes; nil: own mailbox only.
	Access Access
	// Authenticate checks a login from the client address ip (with the
	// lockout the other protocols use, which also audits failures);
	// required.
	Authenticate func(ctx context.Context, login, password, ip string) (*store.User, error)
	// TLSConfig is offered with STARTTLS on a plain listener; serve an
	// implicit-TLS listener with tls.NewListener instead. Without TLS no
	// client can log in (LOGINDISABLED).
	TLSConfig *tls.Config
	Log       *slog.Logger
	// PollInterval is how often IDLE looks for changes; default 10 s.
	PollInterval time.Duration
	// MaxAppend bounds an APPENDed message; default 25 MiB.
	MaxAppend int64
}

// Server is an IMAP server over the store.
type Server struct {
	cfg    Config
	imap   *imapserver.Server
	ctx    context.Context
	cancel context.CancelFunc

	// PanicsRecovered counts panics turned into NO responses; tests fail
	// on any.
	PanicsRecovered atomic.Int64
	Logins          atomic.Int64
}

// New returns a server; Serve it on listeners.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 10 * time.Second
	}
	if cfg.MaxAppend <= 0 {
		cfg.MaxAppend = 25 << 20
	}
	s := &Server{cfg: cfg}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{srv: s, conn: c, remote: remoteAddr(c)}, nil, nil
		},
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapMove: {}, imap.CapUIDPlus: {},
		},
		Logger:    logAdapter{cfg.Log},
		TLSConfig: cfg.TLSConfig,
	})
	return s
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.imap.Serve(ln)
	if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
		return nil
	}
	return err
}

// Close stops the listeners and ends every session.
func (s *Server) Close() error {
	s.cancel()
	return s.imap.Close()
}

type logAdapter struct{ log *slog.Logger }

func (l logAdapter) Printf(format string, args ...any) {
	l.log.Warn("imap: " + fmt.Sprintf(format, args...))
}

func remoteAddr(c *imapserver.Conn) string {
	if nc := c.NetConn(); nc != nil {
		if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
			return host
		}
	}
	return ""
}
