package cluster

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Rebalancing: group 0's part of moving buckets between replicasets
// (core/README.md, "Moving a bucket"). The configuration holds the one
// move under way, the log index from which each moved bucket's new owner
// holds it, and the leftovers to drop; the governor's RebalanceStep
// chooses the next move.

// BucketMove is a bucket on its way from one replicaset to another.
type BucketMove struct {
	ID     uint64 `json:"id"`
	Bucket int    `json:"bucket"`
	From   string `json:"from"`
	To     string `json:"to"`
}

// Leftover is a copy of a bucket a replicaset holds and does not own:
// the source's after a move, a destination's partial one after an
// abort. Its replicaset's leader drops it.
type Leftover struct {
	Replicaset string `json:"replicaset"`
	Bucket     int    `json:"bucket"`
	Move       uint64 `json:"move"`
}

// RebalancePaused is the setting ("true" or "false") that stops the
// governor from starting moves; a move under way goes on.
const RebalancePaused = "rebalance.paused"

// RebalanceMoveTimeout is the setting (a duration, 10s to 24h) after
// which the governor aborts a move still under way: its destination
// lost its quorum, or cannot read the source. The bucket stays with its
// source, and the governor tries again, maybe elsewhere.
const RebalanceMoveTimeout = "rebalance.move_timeout"

// DefaultMoveTimeout is RebalanceMoveTimeout's default.
const DefaultMoveTimeout = 5 * time.Minute

func checkRebalanceSetting(key, value string) error {
	switch key {
	case RebalancePaused:
		if _, err := strconv.ParseBool(value); err != nil {
			return fmt.Errorf("set %s=%q: want true or false", key, value)
		}
	case RebalanceMoveTimeout:
		if _, err := parseMoveTimeout(value); err != nil {
			return fmt.Errorf("set %s=%q: %v", key, value, err)
		}
	}
	return nil
}

func parseMoveTimeout(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 10*time.Second || d > 24*time.Hour {
		return 0, fmt.Errorf("must be a duration from 10s to 24h")
	}
	return d, nil
}

// MoveTimeoutSetting reads RebalanceMoveTimeout.
func (c *Config) MoveTimeoutSetting() time.Duration {
	if d, err := parseMoveTimeout(c.Settings[RebalanceMoveTimeout]); err == nil {
		return d
	}
	return DefaultMoveTimeout
}

// paused reports whether rebalancing is paused.
func (c *Config) paused() bool {
	p, _ := strconv.ParseBool(c.Settings[RebalancePaused])
	return p
}

// StartMove is a governor's step: bucket moves from its owner to to.
func StartMove(bucket int, from, to string) Command {
	return Command{Op: "move.start", Move: &BucketMove{Bucket: bucket, From: from, To: to}}
}

// CommitMove is a destination leader's step: it holds the move's bucket
// from its log's index on, caught up with the source that froze it.
func CommitMove(m BucketMove, index uint64) Command {
	return Command{Op: "move.commit", Move: &m, Index: index}
}

// AbortMove is an operator's action: the move under way ends, its bucket
// staying with its source. A move ID other than 0 names the move to
// end: the abort is refused if another is under way (the one named
// committed meanwhile, and the governor started the next).
func AbortMove(id uint64) Command {
	if id == 0 {
		return Command{Op: "move.abort"}
	}
	return Command{Op: "move.abort", Move: &BucketMove{ID: id}}
}

// Dropped is a leader's step: its replicaset dropped a leftover.
func Dropped(l Leftover) Command {
	return Command{Op: "leftover.dropped", Move: &BucketMove{ID: l.Move, Bucket: l.Bucket, From: l.Replicaset}}
}

// startMove applies move.start.
func (c *Config) startMove(m *BucketMove) error {
	switch {
	case m == nil:
		return fmt.Errorf("move.start: no move")
	case c.Move != nil:
		return fmt.Errorf("move.start: bucket %d is moving from %s to %s: one move at a time", c.Move.Bucket, c.Move.From, c.Move.To)
	case m.Bucket < 0 || m.Bucket >= len(c.Buckets):
		return fmt.Errorf("move.start: no bucket %d (the cluster has %d)", m.Bucket, len(c.Buckets))
	case c.Buckets[m.Bucket] != m.From:
		return fmt.Errorf("move.start: bucket %d is owned by %s, not %s", m.Bucket, c.Buckets[m.Bucket], m.From)
	case m.To == m.From:
		return fmt.Errorf("move.start: bucket %d is owned by %s already", m.Bucket, m.To)
	case c.HasLeftover(m.To, m.Bucket):
		return fmt.Errorf("move.start: %s still holds a leftover copy of bucket %d", m.To, m.Bucket)
	case c.holdsLeftovers(m.From):
		// Its machine keeps a moved bucket frozen until the drop; the
		// next send waits for it (kv.StepSend).
		return fmt.Errorf("move.start: %s has not dropped the buckets it gave away yet", m.From)
	}
	to, ok := c.Replicaset(m.To)
	if !ok || !c.Complete(to) {
		return fmt.Errorf("move.start: %s is no complete replicaset", m.To)
	}
	c.Moves++
	c.Move = &BucketMove{ID: c.Moves, Bucket: m.Bucket, From: m.From, To: m.To}
	return nil
}

// commitMove applies move.commit.
func (c *Config) commitMove(m *BucketMove, index uint64) error {
	if m == nil || c.Move == nil || *c.Move != *m {
		return fmt.Errorf("move.commit: %v is not the move under way (%v)", m, c.Move)
	}
	if index == 0 {
		return fmt.Errorf("move.commit: no log index")
	}
	c.Buckets[m.Bucket] = m.To
	if c.BucketIndex == nil {
		c.BucketIndex = map[int]uint64{}
	}
	c.BucketIndex[m.Bucket] = index
	c.Garbage = append(c.Garbage, Leftover{Replicaset: m.From, Bucket: m.Bucket, Move: m.ID})
	c.Move = nil
	return nil
}

// abortMove applies move.abort.
func (c *Config) abortMove(named *BucketMove) error {
	if c.Move == nil {
		return fmt.Errorf("move.abort: no move is under way")
	}
	if named != nil && named.ID != 0 && named.ID != c.Move.ID {
		return fmt.Errorf("move.abort: move %d is not under way (move %d is, of bucket %d)", named.ID, c.Move.ID, c.Move.Bucket)
	}
	m := c.Move
	c.Garbage = append(c.Garbage, Leftover{Replicaset: m.To, Bucket: m.Bucket, Move: m.ID})
	c.Move = nil
	return nil
}

// dropped applies leftover.dropped.
func (c *Config) dropped(m *BucketMove) error {
	if m == nil {
		return fmt.Errorf("leftover.dropped: no leftover")
	}
	l := Leftover{Replicaset: m.From, Bucket: m.Bucket, Move: m.ID}
	i := slices.Index(c.Garbage, l)
	if i < 0 {
		return fmt.Errorf("leftover.dropped: %s holds no leftover of bucket %d from move %d", l.Replicaset, l.Bucket, l.Move)
	}
	c.Garbage = slices.Delete(c.Garbage, i, i+1)
	return nil
}

func (c *Config) holdsLeftovers(rs string) bool {
	return slices.ContainsFunc(c.Garbage, func(l Leftover) bool { return l.Replicaset == rs })
}

// HasLeftover reports whether replicaset rs holds a leftover copy of
// bucket.
func (c *Config) HasLeftover(rs string, bucket int) bool {
	return slices.ContainsFunc(c.Garbage, func(l Leftover) bool { return l.Replicaset == rs && l.Bucket == bucket })
}

// Load is a replicaset's share of the buckets.
type Load struct {
	Replicaset string `json:"replicaset"`
	Buckets    int    `json:"buckets"`
	// Target is how many it holds once the distribution is even.
	Target   int  `json:"target"`
	Complete bool `json:"complete"`
}

// Loads is every replicaset's share of the buckets, by name. Buckets move
// between complete replicasets only: those share what they hold evenly,
// the first (by name) one more where it does not divide, and an
// incomplete replicaset keeps what it holds (it is one member short for
// a while, after an expulsion, and serves its buckets meanwhile).
func (c *Config) Loads() []Load {
	owned := map[string]int{}
	for _, rs := range c.Buckets {
		owned[rs]++
	}
	var out []Load
	complete, shared := 0, 0
	for _, rs := range c.Replicasets {
		l := Load{Replicaset: rs.Name, Buckets: owned[rs.Name], Complete: c.Complete(rs)}
		l.Target = l.Buckets
		if l.Complete {
			complete++
			shared += l.Buckets
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Load) int { return cmp.Compare(a.Replicaset, b.Replicaset) })
	if complete == 0 {
		return out
	}
	extra := shared % complete
	for i := range out {
		if out[i].Complete {
			out[i].Target = shared / complete
			if extra > 0 {
				out[i].Target++
				extra--
			}
		}
	}
	return out
}

// RebalanceStep is the governor's next move, if one is due: with no move
// under way and rebalancing not paused, the last bucket of the most
// loaded complete replicaset goes to the least loaded one, until their
// counts differ by at most one (ties go to the first by name), once the
// source has dropped what it gave away before. A bucket whose leftover
// the destination still holds is passed over.
func (c *Config) RebalanceStep() (Command, bool) {
	if c.Move != nil || c.paused() {
		return Command{}, false
	}
	var from, to *Load
	loads := c.Loads()
	for i := range loads {
		l := &loads[i]
		if !l.Complete {
			continue
		}
		if to == nil || l.Buckets < to.Buckets {
			to = l
		}
		if from == nil || l.Buckets > from.Buckets {
			from = l
		}
	}
	if from == nil || from.Buckets-to.Buckets <= 1 || c.holdsLeftovers(from.Replicaset) {
		return Command{}, false
	}
	for b := len(c.Buckets) - 1; b >= 0; b-- {
		if c.Buckets[b] == from.Replicaset && !c.HasLeftover(to.Replicaset, b) {
			return StartMove(b, from.Replicaset, to.Replicaset), true
		}
	}
	return Command{}, false
}

// consistentMoves checks the moves' part of the configuration: buckets
// that exist, replicasets that exist, a move under way from the bucket's
// owner and with an ID given.
func (c *Config) consistentMoves() error {
	known := func(rs string) bool { _, ok := c.Replicaset(rs); return ok }
	if m := c.Move; m != nil {
		switch {
		case m.Bucket < 0 || m.Bucket >= len(c.Buckets):
			return fmt.Errorf("move %d: no bucket %d", m.ID, m.Bucket)
		case c.Buckets[m.Bucket] != m.From || !known(m.To) || m.To == m.From:
			return fmt.Errorf("move %d: bucket %d, owned by %s, cannot go from %s to %s", m.ID, m.Bucket, c.Buckets[m.Bucket], m.From, m.To)
		case m.ID == 0 || m.ID > c.Moves:
			return fmt.Errorf("move %d: not among the %d moves started", m.ID, c.Moves)
		}
	}
	for b := range c.BucketIndex { //detlint:unordered each entry is checked on its own
		if b < 0 || b >= len(c.Buckets) {
			return fmt.Errorf("bucket_index: no bucket %d", b)
		}
	}
	for _, l := range c.Garbage {
		if l.Bucket < 0 || l.Bucket >= len(c.Buckets) || !known(l.Replicaset) || l.Move == 0 || l.Move > c.Moves {
			return fmt.Errorf("garbage: %+v names no bucket, replicaset or move", l)
		}
	}
	return nil
}
