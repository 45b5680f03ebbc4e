package live

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/node"
)

// RebalanceStatus is how the buckets are spread over the replicasets,
// and the moves that spread them (core/README.md, "Moving a bucket"), as
// one instance applied group 0's configuration. It is the body of
// GET /v1/cluster/rebalance, and ClusterStatus.Rebalance.
type RebalanceStatus struct {
	// Node is the instance that answered.
	Node string `json:"node"`
	// Paused: the governor starts no move (the setting rebalance.paused);
	// one under way goes on.
	Paused bool `json:"paused"`
	// Balanced: nothing is moving, no leftover is waiting to be dropped,
	// and the complete replicasets' bucket counts differ by at most one,
	// where the governor stops. That is each at its target but for the
	// one bucket over that the division leaves, which may sit with
	// another replicaset than the target gives it to.
	Balanced bool `json:"balanced"`
	// Buckets is how many buckets the cluster has.
	Buckets int `json:"buckets"`
	// Moving is the move under way, nil for none.
	Moving *MoveStatus `json:"moving"`
	// MovesStarted counts the moves group 0 has started, this one
	// included (aborted ones too): the next one's ID is one more.
	MovesStarted uint64 `json:"moves_started"`
	// Leftovers are copies of buckets that replicasets hold without
	// owning them, which their leaders are dropping: the source's after a
	// move, the destination's partial one after an abort.
	Leftovers []LeftoverStatus `json:"leftovers"`
	// Replicasets are every replicaset's share, by name.
	Replicasets []LoadStatus `json:"replicasets"`
}

// MoveStatus is a bucket on its way between replicasets
// (cluster.BucketMove).
type MoveStatus struct {
	ID     uint64 `json:"id"`
	Bucket int    `json:"bucket"`
	From   string `json:"from"`
	To     string `json:"to"`
}

// LeftoverStatus is a copy of a bucket a replicaset holds and does not
// own (cluster.Leftover), left by move Move.
type LeftoverStatus struct {
	Replicaset string `json:"replicaset"`
	Bucket     int    `json:"bucket"`
	Move       uint64 `json:"move"`
}

// LoadStatus is one replicaset's share of the buckets (cluster.Load).
type LoadStatus struct {
	Name string `json:"name"`
	// Buckets it owns now; Target, how many it owns once the spread is
	// even: complete replicasets share the buckets (the first by name
	// takes one more where they do not divide), and an incomplete one
	// keeps what it has.
	Buckets  int  `json:"buckets"`
	Target   int  `json:"target"`
	Complete bool `json:"complete"`
}

// rebalanceStatus is conf's rebalancing, as self applied it.
func rebalanceStatus(self string, conf *cluster.Config) RebalanceStatus {
	paused, _ := strconv.ParseBool(conf.Settings[cluster.RebalancePaused])
	st := RebalanceStatus{Node: self, Paused: paused, Buckets: len(conf.Buckets), MovesStarted: conf.Moves,
		Leftovers: []LeftoverStatus{}, Replicasets: []LoadStatus{}}
	if m := conf.Move; m != nil {
		st.Moving = &MoveStatus{ID: m.ID, Bucket: m.Bucket, From: m.From, To: m.To}
	}
	for _, l := range conf.Garbage {
		st.Leftovers = append(st.Leftovers, LeftoverStatus{Replicaset: l.Replicaset, Bucket: l.Bucket, Move: l.Move})
	}
	least, most, complete := 0, 0, 0
	for _, l := range conf.Loads() {
		st.Replicasets = append(st.Replicasets, LoadStatus{Name: l.Replicaset, Buckets: l.Buckets, Target: l.Target, Complete: l.Complete})
		if !l.Complete {
			continue
		}
		if complete == 0 || l.Buckets < least {
			least = l.Buckets
		}
		most = max(most, l.Buckets)
		complete++
	}
	st.Balanced = st.Moving == nil && len(st.Leftovers) == 0 && most-least <= 1
	return st
}

// RebalanceBackend is what the rebalance routes need beside Backend: the
// state of the buckets' moves, and an operator's say over them.
type RebalanceBackend interface {
	// Rebalance describes the buckets' spread and moves.
	Rebalance(ctx context.Context) (RebalanceStatus, error)
	// PauseRebalance sets rebalance.paused (cluster.SetSetting): paused,
	// the governor starts no move.
	PauseRebalance(ctx context.Context, paused bool) error
	// AbortMove ends the move under way, its bucket staying with its
	// source (cluster.AbortMove): refused (ErrTopologyRefused) when no
	// move is under way, or, with a move ID other than 0, when that
	// move is not the one under way.
	AbortMove(ctx context.Context, move uint64) error
}

var _ RebalanceBackend = (*Node)(nil)

// Rebalance reads the configuration this instance applied from group 0.
func (n *Node) Rebalance(ctx context.Context) (RebalanceStatus, error) {
	return onEngine(ctx, n, func(eng *node.Node) RebalanceStatus {
		return rebalanceStatus(string(n.cfg.Name), eng.Configuration())
	})
}

// PauseRebalance proposes the setting and waits for group 0 to take it.
func (n *Node) PauseRebalance(ctx context.Context, paused bool) error {
	prefix := "rebalance-resume"
	if paused {
		prefix = "rebalance-pause"
	}
	return n.rebalanceAction(ctx, prefix, cluster.SetSetting(cluster.RebalancePaused, strconv.FormatBool(paused)))
}

// AbortMove proposes the abort and waits for group 0 to take it; the
// leaders then resume the bucket at its source and drop the
// destination's partial copy.
func (n *Node) AbortMove(ctx context.Context, move uint64) error {
	return n.rebalanceAction(ctx, "rebalance-abort", cluster.AbortMove(move))
}

func (n *Node) rebalanceAction(ctx context.Context, prefix string, cmd cluster.Command) error {
	return n.decide(ctx, prefix, cmd, ErrTopologyRefused, "the change")
}

// rebalanceBackend is the API's backend as a RebalanceBackend, or the
// error that says it is none.
func (a *api) rebalanceBackend() (RebalanceBackend, error) {
	rb, ok := a.b.(RebalanceBackend)
	if !ok {
		return nil, apiErrorf(http.StatusNotImplemented, "this node moves no buckets")
	}
	return rb, nil
}

// rebalance answers GET /v1/cluster/rebalance.
func (a *api) rebalance(w http.ResponseWriter, r *http.Request) error {
	rb, err := a.rebalanceBackend()
	if err != nil {
		return err
	}
	ctx, cancel := a.context(r)
	defer cancel()
	st, err := rb.Rebalance(ctx)
	if err != nil {
		return backendError(err)
	}
	respond(w, http.StatusOK, st)
	return nil
}

// pauseRebalance answers POST /v1/cluster/rebalance/pause and, with
// paused false, /resume.
func (a *api) pauseRebalance(paused bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rb, err := a.rebalanceBackend()
		if err != nil {
			return err
		}
		ctx, cancel := a.context(r)
		defer cancel()
		switch err := rb.PauseRebalance(ctx, paused); {
		case errors.Is(err, ErrTopologyRefused):
			return apiErrorf(http.StatusConflict, "%s", err)
		case err != nil:
			return backendError(err)
		}
		respond(w, http.StatusOK, map[string]bool{"paused": paused})
		return nil
	}
}

// abortMove answers POST /v1/cluster/rebalance/abort[?move=ID]: with a
// move ID, only that move, so that an abort sent as one move commits
// does not end the next.
func (a *api) abortMove(w http.ResponseWriter, r *http.Request) error {
	rb, err := a.rebalanceBackend()
	if err != nil {
		return err
	}
	var move uint64
	switch values := r.URL.Query()["move"]; {
	case len(values) == 0:
	case len(values) == 1:
		if move, err = strconv.ParseUint(values[0], 10, 64); err != nil || move == 0 {
			return apiErrorf(http.StatusBadRequest, "move: want once a move's ID, a positive integer, such as ?move=7; got %q", values[0])
		}
	default:
		return apiErrorf(http.StatusBadRequest, "move: want once a move's ID, such as ?move=7; got %d of them", len(values))
	}
	ctx, cancel := a.context(r)
	defer cancel()
	switch err := rb.AbortMove(ctx, move); {
	case errors.Is(err, ErrTopologyRefused):
		return apiErrorf(http.StatusConflict, "%s", err)
	case err != nil:
		return backendError(err)
	}
	respond(w, http.StatusOK, map[string]bool{"aborted": true})
	return nil
}
