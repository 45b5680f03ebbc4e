package live

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
)

// apiSlots bounds the API requests an instance runs at once. Each slot is
// a client of the key-value store with its own name and sequence numbers:
// the store applies a client's writes at most once and in order, so a
// name never has two requests in flight. Names carry a random boot ID, so
// a restarted process never reuses a sequence number the store has seen.
const apiSlots = 256

// attemptTimeout is how long a request waits for an answer from one
// instance before it asks again (the same request, so at most once), and
// redirectPause how long it waits before asking again when nobody knew a
// leader.
const (
	attemptTimeout = time.Second
	redirectPause  = 50 * time.Millisecond
)

type kvResponse = kv.Response

type slot struct {
	name env.NodeID
	seq  uint64
	resp chan *kvResponse
}

// toSlot hands a response to the API request waiting for it; a response
// nobody waits for (a late answer to an earlier attempt) is dropped.
func (n *Node) toSlot(to env.NodeID, m env.Message) {
	r, ok := m.(*kv.Response)
	s := n.slotByName[to]
	if !ok || s == nil {
		return
	}
	select {
	case s.resp <- r:
	default:
	}
}

// ErrNotFormed is the answer while the instance has not joined a formed
// cluster.
var ErrNotFormed = errors.New("the cluster has not formed yet: this instance is waiting for its peers")

// Do runs one key-value operation through the cluster: it asks this
// instance, follows redirects to the key's leader, and asks again
// (the same request, which the store applies at most once) when an
// instance does not answer. On ctx's end the outcome of a write is
// unknown.
func (n *Node) Do(ctx context.Context, r kv.Request) (kv.Response, error) {
	op := r.Op
	if !n.started.Load() {
		return kv.Response{}, fmt.Errorf("%w: %w", ErrUnavailable, ErrNotFormed)
	}
	var s *slot
	select {
	case s = <-n.slots:
	case <-ctx.Done():
		return kv.Response{}, fmt.Errorf("%w: %d requests are in flight on this instance", ErrUnavailable, apiSlots)
	}
	defer func() { n.slots <- s }()
	s.seq++
	req := &r
	req.Client, req.Seq = string(s.name), s.seq
	target := n.cfg.Name
	// unanswered is set once an attempt got no answer: the request may
	// have been applied, or may be yet. A redirect says only that the
	// instance that sent it did not take the request, so after an
	// unanswered attempt a write that runs out of time has an unknown
	// outcome, whatever the last answer was.
	unanswered := false
	for {
		n.sendAs(s.name, target, req)
		timer := time.NewTimer(attemptTimeout)
		var r *kv.Response
	wait:
		for {
			select {
			case r = <-s.resp:
				if r.Seq == s.seq {
					break wait
				}
			case <-timer.C:
				break wait
			case <-ctx.Done():
				timer.Stop()
				if op.IsRead() {
					return kv.Response{}, fmt.Errorf("%w: no leader answered in time", ErrUnavailable)
				}
				return kv.Response{}, ErrUnknownOutcome // this attempt is on its way
			}
		}
		timer.Stop()
		switch {
		case r == nil:
			unanswered = true
			target = n.nextTarget(target) // no answer: ask another instance
		case r.Status == kv.StatusRedirect && r.Leader != "":
			target = r.Leader
		case r.Status == kv.StatusRedirect && req.Stale && r.Hint != "":
			// A member of the key's replicaset answers a stale read
			// itself, leader or not: no need to wait for one.
			target = r.Hint
		case r.Status == kv.StatusRedirect:
			if r.Hint != "" {
				target = r.Hint
			}
			select {
			case <-time.After(redirectPause):
			case <-ctx.Done():
				if !op.IsRead() && unanswered {
					return kv.Response{}, ErrUnknownOutcome
				}
				return kv.Response{}, fmt.Errorf("%w: no leader is known", ErrUnavailable)
			}
		default:
			return *r, nil
		}
	}
}

// sendAs sends a request from one of this instance's API clients.
func (n *Node) sendAs(from, to env.NodeID, m env.Message) {
	if to == n.cfg.Name {
		n.post(func() {
			if n.eng != nil {
				n.eng.Receive(from, m)
			}
		})
		return
	}
	n.transport.SendAs(from, to, m)
}

// nextTarget is the member after target in name order, for a request
// that target did not answer.
func (n *Node) nextTarget(target env.NodeID) env.NodeID {
	ms := n.members.list()
	for i, m := range ms {
		if m.Name == target {
			return ms[(i+1)%len(ms)].Name
		}
	}
	if len(ms) > 0 {
		return ms[0].Name
	}
	return n.cfg.Name
}
