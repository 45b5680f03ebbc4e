// Package bugs holds shoal's planted bugs: deliberate mistakes that prove
// the harness catches real ones. They exist only in binaries built with
// the shoalbugs build tag (go build -tags shoalbugs); in a normal build
// Set.Has is constantly false, every planted branch compiles away, and not
// even the bugs' names are in the binary. A run switches bugs on through
// node.Config.Bugs.
package bugs

// Bug is one planted bug.
type Bug uint8

// The planted bugs.
const (
	_ Bug = iota
	// AckBeforeCommit answers a write once the leader has appended it to
	// its own log, before a majority has it.
	AckBeforeCommit
	// StaleLocalRead serves reads from local state on any member, without
	// ReadIndex.
	StaleLocalRead
	// SkipSync never syncs the Raft log.
	SkipSync
	// ForgetDedup applies retried writes again.
	ForgetDedup
	// LeaseReadUnderSkew serves reads on a node that was recently leader,
	// under a lease measured on its own wall clock.
	LeaseReadUnderSkew
	// ForgetVote does not persist the vote, so a restarted node can vote
	// twice in one term.
	ForgetVote
	// ConfigLocalAck answers an operator action on group 0 before it
	// commits.
	ConfigLocalAck
	// SkipApplyOnRestart resumes applying, after a restart, from the
	// commit index instead of the applied index.
	SkipApplyOnRestart
	// AckBeforeEnqueue acknowledges a connector's message as soon as the
	// leader proposes its enqueue, before the log commits it.
	AckBeforeEnqueue
	// CommitOnFetch makes a Kafka consumer commit a batch's offsets as
	// soon as it fetches the batch, as auto-commit does, before the queue
	// has acknowledged its records.
	CommitOnFetch
	// LastArrivalWins applies every change received from another cluster,
	// whatever its stamp: the change that arrives last wins, so clusters
	// that receive concurrent changes in different orders diverge.
	LastArrivalWins
	// TwoOwners lets the source of a bucket move go on accepting the
	// bucket's writes after it froze it: until the move commits, both
	// replicasets own the bucket, and what the source accepts meanwhile
	// the destination never copies.
	TwoOwners
	numBugs
)

// Set is a set of bugs switched on.
type Set uint32
