package cli

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

// modelAction is an operator action on the cluster (its model, its
// pipeline, a repair entry), which the cluster either takes, refuses, or
// leaves undecided.
type modelAction struct {
	name, arg, about string // "model apply", "FILE" (the arguments' names, spaced; "" for none), the help's text
	// refused is the HTTP status of the cluster's refusal (exit 1).
	refused int
	// flags, if set, adds the command's own flags and returns their
	// usage, such as " [--outbound]".
	flags func(fs *flag.FlagSet) string
	// request builds the request from the arguments, or fails with a
	// usage error.
	request func(args []string) (method, path string, body []byte, err error)
	// look, if set, reads what the action is on before the request is
	// sent, so that done can say more than the answer does; an error
	// ends the command with code, nothing sent.
	look func(c *apiClient) (code int, err error)
	// query, if set, is appended to the request's path once look has
	// run: what look learnt that the request must name ("?move=7").
	query func() string
	// done says what happened, from a 200's body.
	done func(body []byte) (string, error)
	// refusal, if set, is the error of a refusal, from the node's reply.
	refusal func(r *apiReply) error
	// after, if set, runs once the action was taken, and its outcome is
	// the command's: a wait for what the action set going. quiet: --json
	// was given, and stdout holds the node's JSON answer alone.
	after func(c *apiClient, stdout io.Writer, quiet bool) (code int, err error)
}

// runModelAction runs an action: exit 0 when taken, 1 when refused, 2
// when undecided, 3 for bad input, 4 for other errors.
func runModelAction(a modelAction, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal "+a.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	usage := ""
	if a.flags != nil {
		usage = a.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s%s [--addr ADDRS] [--json]\n\n%s\n\n", strings.TrimSpace("shoal "+a.name+" "+a.arg), usage, a.about)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseClientArgs(fs, args)
	if done {
		return code, err
	}
	if err := wantArgs(pos, strings.Fields(a.arg)...); err != nil {
		return exitUsage, err
	}
	method, path, body, err := a.request(pos)
	if err != nil {
		return exitUsage, err
	}
	c, err := cf.client()
	if err != nil {
		return exitUsage, err
	}
	if a.look != nil {
		if code, err := a.look(c); err != nil {
			return code, err
		}
	}
	if a.query != nil {
		path += a.query()
	}
	reply, err := c.do(method, path, body, false)
	if err != nil {
		return unanswered(err)
	}
	if cf.json {
		reply.printJSON(stdout)
	}
	switch reply.status {
	case http.StatusOK:
		what, err := a.done(reply.body)
		if err != nil {
			return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
		}
		if !cf.json {
			fmt.Fprintln(stdout, what)
		}
		if a.after != nil {
			return a.after(c, stdout, cf.json)
		}
		return exitValid, nil
	case a.refused:
		if a.refusal != nil {
			return exitInvalid, a.refusal(reply)
		}
		return exitInvalid, errors.New(reply.message())
	}
	return reply.failure()
}

// runModelApply proposes a model file to a running cluster.
func runModelApply(args []string, stdout, stderr io.Writer) (int, error) {
	return runModelAction(modelAction{name: "model apply", arg: "FILE", refused: http.StatusUnprocessableEntity,
		about: "Proposes FILE as the cluster's next data model and waits until the cluster decides:\n" +
			"group 0 checks it against the model in force, then every replicaset's leader validates it.\n" +
			"Exits 0 when accepted, 1 when refused, 2 when undecided (no quorum), 3 for bad input.",
		request: func(args []string) (string, string, []byte, error) {
			file := args[0]
			src, err := os.ReadFile(file)
			if err != nil {
				return "", "", nil, usagef("%v", err)
			}
			if _, err := model.Parse(file, src); err != nil {
				return "", "", nil, usageError{err.Error()}
			}
			return http.MethodPut, "/v1/model", src, nil
		},
		done: func(body []byte) (string, error) {
			var res struct{ Revision int }
			err := json.Unmarshal(body, &res)
			return fmt.Sprintf("accepted as revision %d", res.Revision), err
		},
	}, args, stdout, stderr)
}

// runModelCancel abandons a pending model change.
func runModelCancel(args []string, stdout, stderr io.Writer) (int, error) {
	return runModelAction(modelAction{name: "model cancel", arg: "REVISION", refused: http.StatusConflict,
		about: "Abandons the pending change to model REVISION (shoal model versions shows it): for a change\n" +
			"that waits on a replicaset with no leader, which holds back every other change.\n" +
			"Exits 0 when cancelled, 1 when no such change is pending, 2 when undecided (no quorum).",
		request: func(args []string) (string, string, []byte, error) {
			arg := args[0]
			rev, err := strconv.Atoi(arg)
			if err != nil || rev < 1 {
				return "", "", nil, usagef("REVISION %q: want a revision number, such as 2", arg)
			}
			return http.MethodDelete, fmt.Sprintf("/v1/model/pending?revision=%d", rev), nil, nil
		},
		done: func(body []byte) (string, error) {
			var res struct{ Cancelled int }
			err := json.Unmarshal(body, &res)
			return fmt.Sprintf("cancelled the change to revision %d", res.Cancelled), err
		},
	}, args, stdout, stderr)
}

// modelRead runs a command that reads from a node: it parses the
// command's flags (extra adds its own) and GETs path(). done says the
// command has ended, with code and err; otherwise reply is the node's
// 200 answer.
func modelRead(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet) string, path func() string) (reply *apiReply, cf *clientFlags, done bool, code int, err error) {
	return apiRead(name, nil, args, stderr, extra, func([]string) (string, error) { return path(), nil })
}

// apiRead is modelRead for a command with positional arguments (their
// names in argNames), which path turns into the path or refuses. A 404
// for a named thing is an answer: exit 1, with the node's message.
func apiRead(name string, argNames []string, args []string, stderr io.Writer, extra func(*flag.FlagSet) string,
	path func(pos []string) (string, error)) (reply *apiReply, cf *clientFlags, done bool, code int, err error) {
	fs := flag.NewFlagSet("shoal "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf = addClientFlags(fs)
	usage := ""
	if extra != nil {
		usage = extra(fs)
	}
	names := ""
	for _, a := range argNames {
		names += " " + a
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shoal %s%s%s [--addr ADDRS] [--json]\n\n", name, names, usage)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseClientArgs(fs, args)
	if done {
		return nil, cf, true, code, err
	}
	if err := wantArgs(pos, argNames...); err != nil {
		return nil, cf, true, exitUsage, err
	}
	p, err := path(pos)
	if err != nil {
		return nil, cf, true, exitUsage, err
	}
	c, err := cf.client()
	if err != nil {
		return nil, cf, true, exitUsage, err
	}
	reply, err = c.do(http.MethodGet, p, nil, true)
	if err != nil {
		return nil, cf, true, exitInternal, err
	}
	if reply.status == http.StatusNotFound && len(argNames) > 0 {
		return nil, cf, true, exitInvalid, errors.New(reply.message())
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
