//go:build shoalbugs

package bugs

import (
	"fmt"
	"strings"
)

var names = [numBugs]string{
	AckBeforeCommit:    "ack-before-commit",
	StaleLocalRead:     "stale-local-read",
	SkipSync:           "skip-sync",
	ForgetDedup:        "forget-dedup",
	LeaseReadUnderSkew: "lease-read-under-skew",
	ForgetVote:         "forget-vote",
	ConfigLocalAck:     "config-local-ack",
	SkipApplyOnRestart: "skip-apply-on-restart",
	AckBeforeEnqueue:   "ack-before-enqueue",
	CommitOnFetch:      "commit-on-fetch",
	LastArrivalWins:    "last-arrival-wins",
	TwoOwners:          "two-owners",
}

func (b Bug) String() string { return names[b] }

// Has reports whether b is switched on.
func (s Set) Has(b Bug) bool { return s&(1<<b) != 0 }

// With returns s with b switched on.
func (s Set) With(b Bug) Set { return s | 1<<b }

// Parse reads a comma-separated list of bug names.
func Parse(list string) (Set, error) {
	var s Set
	for _, name := range strings.Split(list, ",") {
		found := false
		for b := Bug(1); b < numBugs; b++ {
			if names[b] == strings.TrimSpace(name) {
				s, found = s.With(b), true
			}
		}
		if !found {
			return 0, fmt.Errorf("no planted bug is named %q (bugs: %s)", name, strings.Join(Names(), ", "))
		}
	}
	return s, nil
}

// Names lists the planted bugs.
func Names() []string { return names[1:] }
