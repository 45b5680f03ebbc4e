package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/shoaldb/shoal/core/live"
)

// runStatus prints the cluster as the first node that answers sees it.
func runStatus(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal status [--addr ADDRS] [--json]\n\nPrints the cluster as the first node that answers sees it: instances, replicasets\nand their leaders, group 0's voters, the buckets' spread and the move under way\n(shoal rebalance status), and the node's view of each Raft group.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseInterleaved(fs, args)
	if done {
		return code, err
	}
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage, usagef("takes no arguments")
	}
	c, err := cf.client()
	if err != nil {
		return exitUsage, err
	}
	reply, err := c.do(http.MethodGet, "/v1/cluster", nil, true)
	if err != nil {
		return exitInternal, err
	}
	if reply.status != http.StatusOK {
		return reply.failure()
	}
	var st live.ClusterStatus
	if err := json.Unmarshal(reply.body, &st); err != nil {
		return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	if cf.json {
		reply.printJSON(stdout)
		return exitValid, nil
	}
	printStatus(stdout, reply.addr, &st)
	return exitValid, nil
}

// printStatus prints the cluster as aligned tables.
func printStatus(w io.Writer, addr string, st *live.ClusterStatus) {
	if st.Name != "" {
		fmt.Fprintf(w, "cluster %s as %s (%s) sees it\n\n", st.Name, orDash(st.Node), addr)
	} else {
		fmt.Fprintf(w, "cluster as %s (%s) sees it\n\n", orDash(st.Node), addr)
	}

	voter := map[string]bool{}
	for _, v := range st.Voters {
		voter[v] = true
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tRAFT ID\tREPLICASET\tDOMAIN\tSTATE\tGROUP 0\tREASON")
	for _, in := range st.Instances {
		role := "learner"
		switch {
		case voter[in.Name]:
			role = "voter"
		case in.State == "expelled":
			role = "-"
		}
		state := orDash(in.State)
		if in.Target != "" && in.Target != in.State {
			state += " -> " + in.Target
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.RaftID, orDash(in.Replicaset), domainString(in.Domain), state, role, orDash(in.Reason))
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICASET\tGROUP\tLEADER\tMEMBERS\tCOMPLETE")
	for _, rs := range st.Replicasets {
		complete := "yes"
		if !rs.Complete {
			complete = "no"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", rs.Name, rs.Group, orDash(rs.Leader), orDash(strings.Join(rs.Members, ",")), complete)
	}
	tw.Flush()
	fmt.Fprintln(w)

	fmt.Fprintf(w, "group 0 voters: %s\n\n", orDash(strings.Join(st.Voters, ",")))

	if st.Rebalance != nil {
		printRebalance(w, st.Rebalance)
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "raft groups on %s\n", orDash(st.Node))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tNAME\tTERM\tROLE\tLEADER\tCOMMIT\tAPPLIED")
	for _, g := range st.Groups {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%d\t%d\n", g.Group, g.Name, g.Term, orDash(g.Role), orDash(g.Leader), g.Commit, g.Applied)
	}
	tw.Flush()
	if len(st.Replication) == 0 {
		return
	}
	fmt.Fprintf(w, "\nreplication to other clusters, as %s applied it\n", orDash(st.Node))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICASET\tDESTINATION\tCLUSTER\tLAG (CHANGES)\tLAG (SECONDS)")
	for _, r := range st.Replication {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\n", r.Replicaset, r.Destination, r.Cluster, r.Entries, r.OldestSeconds)
	}
	tw.Flush()
}

// domainString is a failure domain as k=v pairs, keys sorted.
func domainString(d map[string]string) string {
	parts := make([]string, 0, len(d))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, k+"="+d[k])
	}
	return orDash(strings.Join(parts, ","))
}

// orDash is s, or "-" for nothing.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
