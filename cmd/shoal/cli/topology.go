package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/shoaldb/shoal/core/live"
)

// runExpel expels an instance from a running cluster and waits for the
// governor to finish.
func runExpel(args []string, stdout, stderr io.Writer) (int, error) {
	var force *bool
	var wait *time.Duration
	var name string
	return runModelAction(modelAction{name: "expel", arg: "NAME", refused: http.StatusConflict,
		about: "Expels instance NAME from the cluster for good: group 0's governor hands its vote to another\n" +
			"instance, removes it from its replicaset and from every Raft group, and its name is not given\n" +
			"again. An instance that is online is expelled only with --force; expel one that is gone (the\n" +
			"governor marks an instance offline once it has not heard from it for governor.offline_after).\n" +
			"A replicaset that lost a member takes the next instance that joins.\n" +
			"Exits 0 once expelled (or, with --wait 0, once group 0 took the expulsion), 1 when refused,\n" +
			"2 when undecided (no quorum) or not finished within --wait.",
		flags: func(fs *flag.FlagSet) string {
			force = fs.Bool("force", false, "expel the instance even though it is online")
			wait = fs.Duration("wait", 30*time.Second, "how long to wait for the governor to finish the expulsion (0: do not wait)")
			return " [--force] [--wait DURATION]"
		},
		request: func(args []string) (string, string, []byte, error) {
			name = args[0]
			if *wait < 0 {
				return "", "", nil, usagef("--wait %s: want a duration of 0 or more", *wait)
			}
			path := "/v1/cluster/instances/" + url.PathEscape(name) + "/expel"
			if *force {
				path += "?force=true"
			}
			return http.MethodPost, path, nil, nil
		},
		look: func(c *apiClient) (int, error) {
			st, err := clusterStatus(c)
			if err != nil {
				return exitInternal, err
			}
			if findInstance(st, name) == nil {
				return exitInvalid, fmt.Errorf("the cluster has no instance named %q (shoal status lists them)", name)
			}
			return 0, nil
		},
		done: func(body []byte) (string, error) {
			var res struct{ Expelling string }
			if err := json.Unmarshal(body, &res); err != nil {
				return "", err
			}
			return fmt.Sprintf("group 0 took the expulsion of %s", res.Expelling), nil
		},
		after: func(c *apiClient, stdout io.Writer, quiet bool) (int, error) {
			if *wait == 0 {
				return exitValid, nil
			}
			deadline := time.Now().Add(*wait)
			for {
				st, err := clusterStatus(c)
				if err == nil {
					if in := findInstance(st, name); in != nil && in.State == "expelled" {
						if !quiet {
							fmt.Fprintf(stdout, "%s is expelled\n", name)
						}
						return exitValid, nil
					}
				}
				if time.Now().After(deadline) {
					state := "unknown"
					if in := findInstance(st, name); err == nil && in != nil {
						state = in.State
					}
					return exitUnknown, fmt.Errorf("%s is still %s after %s: the governor works on group 0's leader, step by step (shoal status shows how far it is)", name, state, *wait)
				}
				time.Sleep(200 * time.Millisecond)
			}
		},
	}, args, stdout, stderr)
}

// clusterStatus reads GET /v1/cluster.
func clusterStatus(c *apiClient) (*live.ClusterStatus, error) {
	reply, err := c.do(http.MethodGet, "/v1/cluster", nil, true)
	if err != nil {
		return nil, err
	}
	if reply.status != http.StatusOK {
		return nil, errors.New(reply.message())
	}
	var st live.ClusterStatus
	if err := json.Unmarshal(reply.body, &st); err != nil {
		return nil, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	return &st, nil
}

// findInstance is the named instance of st, or nil.
func findInstance(st *live.ClusterStatus, name string) *live.InstanceStatus {
	for i := range st.Instances {
		if st.Instances[i].Name == name {
			return &st.Instances[i]
		}
	}
	return nil
}
