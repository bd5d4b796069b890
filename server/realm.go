package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/mobd-dev/mobd/rpc"
)

// Realm lists, reads and archives the sessions of the runtimes' realm, for
// what the engine's session actors do not offer (the sessions no actor
// runs, history, archive).
type Realm interface {
	// ReadSession returns a session's details.
	ReadSession(ctx context.Context, id string) (*rpc.SessionDetails, error)
	// History returns up to limit rows of a session's history from offset
	// (limit 0: all).
	History(ctx context.Context, id string, offset, limit int) (*rpc.History, error)
	// Archive archives a session.
	Archive(ctx context.Context, id string) error
	// List returns every session of the realm.
	List(ctx context.Context) ([]rpc.SessionInfo, error)
}

// LazyRealm is a Realm over a runtime process of its own on the engine's
// realm, started on first use (so a daemon that never reads a history
// never runs it). It is safe for concurrent use; Close stops the process.
type LazyRealm struct {
	opts rpc.Options

	mu     sync.Mutex
	client *rpc.Client
	closed bool
}

// NewLazyRealm returns a LazyRealm that connects with opts (normally the
// engine's binary, realm id and state root, and an instance id of its own).
func NewLazyRealm(opts rpc.Options) *LazyRealm { return &LazyRealm{opts: opts} }

func (l *LazyRealm) get(ctx context.Context) (*rpc.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("server: realm client closed")
	}
	if l.client != nil && l.client.Err() == nil {
		return l.client, nil
	}
	if l.client != nil {
		_ = l.client.Close()
	}
	c, err := rpc.Connect(ctx, l.opts)
	if err != nil {
		return nil, fmt.Errorf("server: connect to realm %q: %w", l.opts.RealmID, err)
	}
	l.client = c
	return c, nil
}

// ReadSession implements Realm.
func (l *LazyRealm) ReadSession(ctx context.Context, id string) (*rpc.SessionDetails, error) {
	c, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return c.ReadSession(ctx, id)
}

// History implements Realm.
func (l *LazyRealm) History(ctx context.Context, id string, offset, limit int) (*rpc.History, error) {
	c, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return c.ReadSessionHistory(ctx, id, offset, limit)
}

// Archive implements Realm.
func (l *LazyRealm) Archive(ctx context.Context, id string) error {
	c, err := l.get(ctx)
	if err != nil {
		return err
	}
	return c.Session(id).Archive(ctx)
}

// listPage is how many sessions List asks the runtime for at once.
const listPage = 500

// List implements Realm, reading the runtime's list page by page.
func (l *LazyRealm) List(ctx context.Context) ([]rpc.SessionInfo, error) {
	c, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	var all []rpc.SessionInfo
	for {
		page, err := c.ListSessions(ctx, rpc.ListSessionsOptions{Limit: listPage, Offset: len(all)})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < listPage {
			return all, nil
		}
	}
}

// Close stops the realm's runtime process, if it was started. It is
// idempotent.
func (l *LazyRealm) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.client == nil {
		return nil
	}
	err := l.client.Close()
	l.client = nil
	return err
}
