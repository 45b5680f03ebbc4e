package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoaldb/shoal/core/live"
)

// maxLeftoversShown bounds the leftovers a status names one by one.
const maxLeftoversShown = 8

// runRebalanceStatus prints how the buckets are spread and moving.
func runRebalanceStatus(args []string, stdout, stderr io.Writer) (int, error) {
	reply, cf, done, code, err := modelRead("rebalance status", args, stderr, nil, func() string { return "/v1/cluster/rebalance" })
	if done {
		return code, err
	}
	if cf.json {
		reply.printJSON(stdout)
		return exitValid, nil
	}
	var st live.RebalanceStatus
	if err := json.Unmarshal(reply.body, &st); err != nil {
		return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	fmt.Fprintf(stdout, "rebalancing as %s (%s) sees it\n\n", orDash(st.Node), reply.addr)
	printRebalance(stdout, &st)
	return exitValid, nil
}

// printRebalance prints the buckets' spread: a line of state, the move
// under way, the leftovers, and a table of the replicasets.
func printRebalance(w io.Writer, st *live.RebalanceStatus) {
	state := "balanced"
	if !st.Balanced {
		state = "not balanced"
	}
	if st.Paused {
		state += ", paused (the governor starts no move)"
	}
	fmt.Fprintf(w, "rebalancing: %s; %d buckets, %d moves started\n", state, st.Buckets, st.MovesStarted)
	if m := st.Moving; m != nil {
		fmt.Fprintf(w, "moving: bucket %d from %s to %s (move %d)\n", m.Bucket, m.From, m.To, m.ID)
	} else {
		fmt.Fprintln(w, "moving: nothing")
	}
	if n := len(st.Leftovers); n > 0 {
		var names []string
		for _, l := range st.Leftovers[:min(n, maxLeftoversShown)] {
			names = append(names, fmt.Sprintf("%s bucket %d (move %d)", l.Replicaset, l.Bucket, l.Move))
		}
		if n > maxLeftoversShown {
			names = append(names, fmt.Sprintf("and %d more", n-maxLeftoversShown))
		}
		fmt.Fprintf(w, "leftovers to drop: %s\n", strings.Join(names, ", "))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICASET\tBUCKETS\tTARGET\tCOMPLETE")
	for _, l := range st.Replicasets {
		complete := "yes"
		if !l.Complete {
			complete = "no (keeps its buckets)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", l.Name, l.Buckets, l.Target, complete)
	}
	tw.Flush()
}

// rebalanceStatus reads GET /v1/cluster/rebalance.
func rebalanceStatus(c *apiClient) (*live.RebalanceStatus, error) {
	reply, err := c.do(http.MethodGet, "/v1/cluster/rebalance", nil, true)
	if err != nil {
		return nil, err
	}
	if reply.status != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %s: %s", reply.addr, reply.status, http.StatusText(reply.status), reply.message())
	}
	var st live.RebalanceStatus
	if err := json.Unmarshal(reply.body, &st); err != nil {
		return nil, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	return &st, nil
}

// runRebalancePause pauses rebalancing, and waits for the move under way
// to end.
func runRebalancePause(args []string, stdout, stderr io.Writer) (int, error) {
	var wait *time.Duration
	return runModelAction(modelAction{name: "rebalance pause", refused: http.StatusConflict,
		about: "Pauses rebalancing: group 0's governor starts no bucket move until shoal rebalance resume.\n" +
			"A move under way goes on to its end (shoal rebalance abort ends it sooner).\n" +
			"Exits 0 once paused and nothing moves (with --wait 0, once group 0 took the pause),\n" +
			"2 when undecided (no quorum) or a move is still under way after --wait.",
		flags: func(fs *flag.FlagSet) string {
			wait = fs.Duration("wait", 30*time.Second, "how long to wait for the move under way to end (0: do not wait)")
			return " [--wait DURATION]"
		},
		request: func([]string) (string, string, []byte, error) {
			if *wait < 0 {
				return "", "", nil, usagef("--wait %s: want a duration of 0 or more", *wait)
			}
			return http.MethodPost, "/v1/cluster/rebalance/pause", nil, nil
		},
		done: func([]byte) (string, error) {
			return "rebalancing paused: the governor starts no move", nil
		},
		after: func(c *apiClient, stdout io.Writer, quiet bool) (int, error) {
			if *wait == 0 {
				return exitValid, nil
			}
			deadline := time.Now().Add(*wait)
			for {
				st, err := rebalanceStatus(c)
				if err == nil && st.Moving == nil {
					if !quiet {
						fmt.Fprintln(stdout, "no move is under way")
					}
					return exitValid, nil
				}
				if time.Now().After(deadline) {
					if err != nil {
						return exitUnknown, fmt.Errorf("whether a move is under way is unknown after %s: %v", *wait, err)
					}
					m := st.Moving
					return exitUnknown, fmt.Errorf("move %d (bucket %d from %s to %s) is still under way after %s: shoal rebalance abort ends it",
						m.ID, m.Bucket, m.From, m.To, *wait)
				}
				time.Sleep(200 * time.Millisecond)
			}
		},
	}, args, stdout, stderr)
}

// runRebalanceResume lets the governor move buckets again.
func runRebalanceResume(args []string, stdout, stderr io.Writer) (int, error) {
	return runModelAction(modelAction{name: "rebalance resume", refused: http.StatusConflict,
		about: "Resumes rebalancing: group 0's governor moves buckets again, one at a time, until the complete\n" +
			"replicasets' counts differ by at most one. Exits 0 once group 0 took it, 2 when undecided (no quorum).",
		request: func([]string) (string, string, []byte, error) {
			return http.MethodPost, "/v1/cluster/rebalance/resume", nil, nil
		},
		done: func([]byte) (string, error) {
			return "rebalancing resumed", nil
		},
	}, args, stdout, stderr)
}

// runRebalanceAbort ends the move under way: the one --move names, or
// the one it finds under way. Either way the abort names its move, so
// that one sent as that move commits does not end the next.
func runRebalanceAbort(args []string, stdout, stderr io.Writer) (int, error) {
	var move *uint64
	var found *live.MoveStatus
	return runModelAction(modelAction{name: "rebalance abort", refused: http.StatusConflict,
		about: "Aborts the bucket move under way: the bucket stays with its source, which takes writes to it\n" +
			"again, and the destination drops its partial copy. Unless rebalancing is paused (shoal rebalance\n" +
			"pause), the governor then starts the next move, with another bucket. Without --move, the move\n" +
			"under way as the instance asked first sees it; the abort is refused if another is under way\n" +
			"by the time group 0 takes it.\n" +
			"Exits 0 once group 0 took it, 1 when no move (or not that one) is under way, 2 when undecided (no quorum).",
		flags: func(fs *flag.FlagSet) string {
			move = fs.Uint64("move", 0, "the ID of the move to abort (0: the one under way)")
			return " [--move ID]"
		},
		request: func([]string) (string, string, []byte, error) {
			return http.MethodPost, "/v1/cluster/rebalance/abort", nil, nil
		},
		look: func(c *apiClient) (int, error) {
			if *move != 0 {
				return exitValid, nil
			}
			st, err := rebalanceStatus(c)
			if err != nil {
				return exitUnknown, err
			}
			if found = st.Moving; found != nil {
				*move = found.ID
			}
			return exitValid, nil // with nothing moving, group 0 says so
		},
		query: func() string {
			if *move == 0 {
				return ""
			}
			return "?move=" + strconv.FormatUint(*move, 10)
		},
		done: func([]byte) (string, error) {
			if found != nil {
				return fmt.Sprintf("group 0 aborted move %d (bucket %d from %s to %s)", found.ID, found.Bucket, found.From, found.To), nil
			}
			return fmt.Sprintf("group 0 aborted move %d", *move), nil
		},
		after: func(c *apiClient, stdout io.Writer, quiet bool) (int, error) {
			st, err := rebalanceStatus(c)
			if quiet || err != nil {
				// The abort was taken: what follows is only news.
				return exitValid, nil
			}
			fmt.Fprintln(stdout)
			printRebalance(stdout, st)
			if !st.Paused {
				fmt.Fprintln(stdout, "\nrebalancing is not paused: the governor goes on with another bucket (shoal rebalance pause stops it)")
			}
			return exitValid, nil
		},
	}, args, stdout, stderr)
}

// runRebalance is shoal rebalance without a subcommand it knows: the
// status, or a usage error naming the subcommands.
func runRebalance(args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return exitUsage, usagef("unknown subcommand %q: want status, pause, resume or abort", args[0])
	}
	return runRebalanceStatus(args, stdout, stderr)
}
