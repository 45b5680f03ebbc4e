package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/core/model"
)

// runModelCheck validates model files offline, as the cluster would.
func runModelCheck(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal model check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal model check FILE [NEXT]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Validates a data model file and prints its types and versions. With NEXT, also checks that")
		fmt.Fprintln(stderr, "NEXT may replace FILE in a running cluster. Exits 0 if valid, 1 if not, 3 for usage.")
	}
	pos, done, code, err := parseInterleaved(fs, args)
	if done {
		return code, err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return exitUsage, usagef("want FILE [NEXT]")
	}
	var models []*model.Model
	for _, name := range pos {
		src, err := os.ReadFile(name)
		if err != nil {
			return exitUsage, usagef("%v", err)
		}
		m, err := model.Parse(name, src)
		if err != nil {
			fmt.Fprintln(stdout, err)
			return exitInvalid, nil
		}
		models = append(models, m)
	}
	if len(models) == 2 {
		if err := models[0].CheckSuccessor(models[1]); err != nil {
			fmt.Fprintf(stdout, "%s cannot replace %s: %v\n", pos[1], pos[0], err)
			return exitInvalid, nil
		}
	}
	m := models[len(models)-1]
	fmt.Fprintf(stdout, "%s: valid, digest %s\n", pos[len(pos)-1], m.Digest())
	for _, t := range m.Types {
		fmt.Fprintf(stdout, "  %s: key (%s), version %d\n", t.Name, strings.Join(t.Key, ", "), t.Latest())
	}
	return exitValid, nil
}

// runModelApply proposes a model file to a running cluster.
func runModelApply(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal model apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal model apply FILE [--addr ADDRS] [--json]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Proposes FILE as the cluster's next data model and waits until the cluster decides:")
		fmt.Fprintln(stderr, "group 0 checks it against the model in force, then every replicaset's leader validates it.")
		fmt.Fprintln(stderr, "Exits 0 when accepted, 1 when refused, 2 when undecided (no quorum), 3 for bad input.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseClientArgs(fs, args)
	if done {
		return code, err
	}
	if err := wantArgs(pos, "FILE"); err != nil {
		return exitUsage, err
	}
	src, err := os.ReadFile(pos[0])
	if err != nil {
		return exitUsage, usagef("%v", err)
	}
	if _, err := model.Parse(pos[0], src); err != nil {
		return exitUsage, usageError{err.Error()}
	}
	c, err := cf.client()
	if err != nil {
		return exitUsage, err
	}
	reply, err := c.do(http.MethodPut, "/v1/model", src, false)
	if err != nil {
		return unanswered(err)
	}
	if cf.json {
		reply.printJSON(stdout)
	}
	switch reply.status {
	case http.StatusOK:
		var res struct{ Revision int }
		if err := json.Unmarshal(reply.body, &res); err != nil {
			return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
		}
		if !cf.json {
			fmt.Fprintf(stdout, "accepted as revision %d\n", res.Revision)
		}
		return exitValid, nil
	case http.StatusUnprocessableEntity:
		return exitInvalid, errors.New(reply.message())
	}
	return reply.failure()
}

// runModelCancel abandons a pending model change.
func runModelCancel(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal model cancel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal model cancel REVISION [--addr ADDRS] [--json]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Abandons the pending change to model REVISION (shoal model versions shows it): for a change")
		fmt.Fprintln(stderr, "that waits on a replicaset with no leader, which holds back every other change.")
		fmt.Fprintln(stderr, "Exits 0 when cancelled, 1 when no such change is pending, 2 when undecided (no quorum).")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseClientArgs(fs, args)
	if done {
		return code, err
	}
	if err := wantArgs(pos, "REVISION"); err != nil {
		return exitUsage, err
	}
	rev, err := strconv.Atoi(pos[0])
	if err != nil || rev < 1 {
		return exitUsage, usagef("REVISION %q: want a revision number, such as 2", pos[0])
	}
	c, err := cf.client()
	if err != nil {
		return exitUsage, err
	}
	reply, err := c.do(http.MethodDelete, fmt.Sprintf("/v1/model/pending?revision=%d", rev), nil, false)
	if err != nil {
		return unanswered(err)
	}
	if cf.json {
		reply.printJSON(stdout)
	}
	switch reply.status {
	case http.StatusOK:
		if !cf.json {
			fmt.Fprintf(stdout, "cancelled the change to revision %d\n", rev)
		}
		return exitValid, nil
	case http.StatusConflict:
		return exitInvalid, errors.New(reply.message())
	}
	return reply.failure()
}

// modelRead runs a command that reads from a node: it parses the
// command's flags (extra adds its own) and GETs path(). done says the
// command has ended, with code and err; otherwise reply is the node's
// 200 answer.
func modelRead(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet) string, path func() string) (reply *apiReply, cf *clientFlags, done bool, code int, err error) {
	fs := flag.NewFlagSet("shoal "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf = addClientFlags(fs)
	usage := ""
	if extra != nil {
		usage = extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shoal %s%s [--addr ADDRS] [--json]\n\n", name, usage)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseClientArgs(fs, args)
	if done {
		return nil, cf, true, code, err
	}
	if err := wantArgs(pos); err != nil {
		return nil, cf, true, exitUsage, err
	}
	c, err := cf.client()
	if err != nil {
		return nil, cf, true, exitUsage, err
	}
	reply, err = c.do(http.MethodGet, path(), nil, true)
	if err != nil {
		return nil, cf, true, exitInternal, err
	}
	if reply.status != http.StatusOK {
		code, err = reply.failure()
		return nil, cf, true, code, err
	}
	return reply, cf, false, 0, nil
}

// runModelShow prints the model in force.
func runModelShow(args []string, stdout, stderr io.Writer) (int, error) {
	var yaml *bool
	reply, cf, done, code, err := modelRead("model show", args, stderr, func(fs *flag.FlagSet) string {
		yaml = fs.Bool("yaml", false, "print the model's YAML source")
		return " [--yaml]"
	}, func() string {
		if *yaml {
			return "/v1/model?format=yaml"
		}
		return "/v1/model"
	})
	if done {
		return code, err
	}
	if cf.json || *yaml {
		reply.printJSON(stdout)
		return exitValid, nil
	}
	var body live.ModelBody
	if err := json.Unmarshal(reply.body, &body); err != nil {
		return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	fmt.Fprintf(stdout, "revision %d, digest %s\n", body.Revision, body.Digest)
	out, _ := json.MarshalIndent(body.Model, "", "  ")
	fmt.Fprintln(stdout, string(out))
	return exitValid, nil
}

// runModelVersions prints every model the cluster accepted.
func runModelVersions(args []string, stdout, stderr io.Writer) (int, error) {
	reply, cf, done, code, err := modelRead("model versions", args, stderr, nil, func() string { return "/v1/model/versions" })
	if done {
		return code, err
	}
	if cf.json {
		reply.printJSON(stdout)
		return exitValid, nil
	}
	var st live.ModelStatus
	if err := json.Unmarshal(reply.body, &st); err != nil {
		return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	if len(st.Revisions) == 0 {
		fmt.Fprintln(stdout, "no data model yet")
	}
	for _, r := range st.Revisions {
		fmt.Fprintf(stdout, "revision %d  digest %s\n", r.Revision, r.Digest)
	}
	if p := st.Pending; p != nil {
		fmt.Fprintf(stdout, "pending: revision %d  digest %s  accepted by %s\n", p.Revision, p.Digest, strings.Join(p.Votes, ", "))
	}
	if a := st.LastAbort; a != nil {
		fmt.Fprintf(stdout, "last refused: revision %d: %s\n", a.Revision, a.Reason)
	}
	return exitValid, nil
}
