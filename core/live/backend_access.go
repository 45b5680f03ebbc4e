package live

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
)

// accessCache is the access configuration in force on an instance, kept
// where every API request can read it without a trip to the loop. The
// loop sets stale when group 0 applies something, and reads the
// configuration again after the batch (refreshAccess): group 0 changes
// seldom, and API requests are many.
//
// Nothing is published before group 0 has caught up with what this
// instance knew committed: after a restart its state machine starts from
// the last snapshot, and a token revoked after it would count again until
// the log is applied; a joining instance has no configuration at all
// until its group 0 leader sends one.
type accessCache struct {
	current  atomic.Pointer[cluster.Access]
	stale    bool // owned by the loop, as is caughtUp
	caughtUp bool
}

var _ AccessBackend = (*Node)(nil)

// Access is the access configuration this instance applied. Before its
// engine runs, an instance forming a new cluster knows it (no token yet:
// only its auth.required setting counts); one that restarts or joins a
// formed cluster does not, until it has applied group 0.
func (n *Node) Access() (*cluster.Access, bool) {
	if a := n.access.current.Load(); a != nil {
		return a, true
	}
	if n.members.formedFile() == nil && (len(n.cfg.Join) == 0 || n.cfg.BootstrapExpect > 0) {
		return &cluster.Access{Required: n.cfg.Settings[cluster.AuthRequired] == "true"}, true
	}
	return nil, false
}

// AwaitAccess waits until this instance knows the tokens in force
// (Access answers), or ctx ends: after a start, until group 0 has caught
// up with its leader. Until then every request but /healthz and /readyz
// is answered 503.
func (n *Node) AwaitAccess(ctx context.Context) error {
	if _, ok := waitAccess(ctx, n.Access, n.dead); ok {
		return nil
	}
	select {
	case <-n.dead:
		return fmt.Errorf("live: %s: the engine stopped: %w", n.cfg.Name, n.err)
	default:
		return ctx.Err()
	}
}

// waitAccess asks access every 5 ms until it answers, ctx ends or dead
// (nil: never) is closed.
func waitAccess(ctx context.Context, access func() (*cluster.Access, bool), dead <-chan struct{}) (*cluster.Access, bool) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if acc, ok := access(); ok {
			return acc, true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-dead:
			return nil, false
		case <-t.C:
		}
	}
}

// CreateToken adds t through group 0 (cluster.CreateToken).
func (n *Node) CreateToken(ctx context.Context, t cluster.Token, bootstrap bool) error {
	return n.changeAccess(ctx, "token", cluster.CreateToken(t, bootstrap))
}

// RevokeToken removes a token through group 0 (cluster.RevokeToken).
func (n *Node) RevokeToken(ctx context.Context, idOrName string) error {
	return n.changeAccess(ctx, "token-revoke", cluster.RevokeToken(idOrName))
}

// SetRole creates or changes a custom role through group 0
// (cluster.SetRole).
func (n *Node) SetRole(ctx context.Context, r cluster.Role) error {
	return n.changeAccess(ctx, "role", cluster.SetRole(r))
}

// DeleteRole removes a custom role through group 0 (cluster.DeleteRole).
func (n *Node) DeleteRole(ctx context.Context, name string) error {
	return n.changeAccess(ctx, "role-delete", cluster.DeleteRole(name))
}

// changeAccess proposes cmd and waits for it; once it is applied, this
// instance's requests see it (the next ones a client sends here are
// judged by it: act publishes it).
func (n *Node) changeAccess(ctx context.Context, prefix string, cmd cluster.Command) error {
	return n.decide(ctx, prefix, cmd, ErrAccessRefused, "the change")
}

// refreshNow publishes the access and the configuration's view at once,
// on the loop, and waits for it: an operator action's outcome is known
// as its entry applies, before the batch ends, and the next request of
// the client that made it must see it.
func (n *Node) refreshNow() {
	done := make(chan struct{})
	if !n.post(func() {
		n.refreshAccess()
		close(done)
	}) {
		return
	}
	select {
	case <-done:
	case <-n.done:
	}
}

// noteApplied marks the access stale when group 0 applied an entry or
// installed a snapshot (trace records raft.apply and
// raft.snapshot.install), and notes when group 0 has caught up: the
// engine traces config.synced once it has applied up to a read index
// group 0's leader confirmed after this start (node.Config.SyncConfig).
// A restarted instance's own commit index is the one it had when it
// stopped: trusting it would serve the access it had then, with auth
// off or a revoked token alive. It runs on the loop.
func (n *Node) noteApplied(kind string, fields []env.Field) {
	r := env.Record{Kind: kind, Fields: fields}
	switch kind {
	case "config.synced":
		n.access.caughtUp, n.access.stale = true, true
		return
	case "raft.state":
		return
	}
	if g, _ := r.Str("group"); g == "config" {
		n.access.stale = true
	}
}

// refreshAccess reads the access configuration again if group 0 changed
// since. It runs on the loop.
func (n *Node) refreshAccess() {
	if !n.access.stale || !n.access.caughtUp {
		return
	}
	eng, ok := n.eng.(*node.Node)
	if !ok || eng == nil {
		return
	}
	n.access.stale = false
	conf := eng.Configuration()
	n.access.current.Store(conf.Access())
	n.view.Store(viewOf(conf))
}
