package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/core/model"
)

// runPipelineCheck validates a pipeline file offline, with this binary's
// handlers, and with --message runs one message through it.
func runPipelineCheck(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal pipeline check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelFile := fs.String("model", "", "a data model `file` to validate the objects the message becomes against, as the cluster would")
	message := fs.String("message", "", "a `file` holding one message's JSON payload (- for stdin) to run through the pipeline")
	connector := fs.String("connector", "http", "the connector the message comes from")
	id := fs.String("id", "msg-1", "the message's id")
	var headers listFlag
	fs.Var(&headers, "header", "a message header, as `'Name: value'` (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal pipeline check FILE [--model MODEL] [--message FILE [--connector NAME] [--header 'Name: value']...]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Validates a pipeline file (routing rules and handler chains) with the handlers this binary has,")
		fmt.Fprintln(stderr, "and prints its chains. With --message, runs that message through it offline (enrich finds no")
		fmt.Fprintln(stderr, "stored objects) and prints what it becomes: the objects, validated and upgraded against MODEL")
		fmt.Fprintln(stderr, "when given, and the outbound messages; or why it would go to the repair queue.")
		fmt.Fprintln(stderr, "Exits 0 if valid, 1 if the file is invalid or the message fails, 3 for usage.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseInterleaved(fs, args)
	if done {
		return code, err
	}
	if err := wantArgs(pos, "FILE"); err != nil {
		fs.Usage()
		return exitUsage, err
	}
	src, err := os.ReadFile(pos[0])
	if err != nil {
		return exitUsage, usagef("%v", err)
	}
	p, err := handler.Parse(pos[0], src)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return exitInvalid, nil
	}
	var m *model.Model
	if *modelFile != "" {
		msrc, err := os.ReadFile(*modelFile)
		if err != nil {
			return exitUsage, usagef("--model: %v", err)
		}
		if m, err = model.Parse(*modelFile, msrc); err != nil {
			return exitUsage, usageError{err.Error()}
		}
	}
	if *message == "" {
		fmt.Fprintf(stdout, "%s: valid\n", pos[0])
		for _, key := range p.Keys() {
			fmt.Fprintf(stdout, "  %s: %s\n", key, strings.Join(p.Chain(key), " → "))
		}
		return exitValid, nil
	}
	payload, err := readInput(*message)
	if err != nil {
		return exitUsage, usagef("--message: %v", err)
	}
	in := &handler.Input{ID: *id, Connector: *connector, Payload: payload, Headers: map[string]string{}}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return exitUsage, usagef("--header %q: want 'Name: value'", h)
		}
		in.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	out := p.Run(in, noObjects{}, time.Now())
	if f := out.Failure; f != nil {
		fmt.Fprintf(stdout, "to the repair queue: %s\n", failureText(f.Key, f.Step, f.Handler, f.Reason))
		return exitInvalid, nil
	}
	fmt.Fprintf(stdout, "routing keys: %s\n", strings.Join(out.Keys, ", "))
	for _, o := range out.Objects {
		value := o.Value
		version := o.Version
		if m != nil {
			t, ok := m.Type(o.Type)
			if !ok {
				fmt.Fprintf(stdout, "to the repair queue: storing %s: the data model has no type %q\n", o.Type, o.Type)
				return exitInvalid, nil
			}
			if version == 0 {
				version = t.Latest()
			}
			obj, err := t.Validate(version, o.Value)
			if err == nil {
				obj, err = t.Upgrade(version, obj)
			}
			if err != nil {
				fmt.Fprintf(stdout, "to the repair queue: storing %s: %v\n", o.Type, err)
				return exitInvalid, nil
			}
			value, version = model.Encode(obj), t.Latest()
		}
		fmt.Fprintf(stdout, "store %s (version %d, chain %s): %s\n", o.Type, version, o.Key, value)
	}
	for _, o := range out.Outbound {
		fmt.Fprintf(stdout, "send to %s (chain %s): %s\n", o.Destination, o.Key, o.Value)
	}
	return exitValid, nil
}

// noObjects is the store of an offline run: it holds nothing.
type noObjects struct{}

func (noObjects) Object(typ string, key map[string]any) (map[string]any, bool, error) {
	return nil, false, nil
}

// failureText says where a message failed and why.
func failureText(key string, step int, h, reason string) string {
	switch {
	case key == "":
		return reason
	case h != "":
		return fmt.Sprintf("chain %s, step %d (%s): %s", key, step, h, reason)
	}
	return fmt.Sprintf("chain %s: %s", key, reason)
}

// readInput reads a file, or stdin for "-".
func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
	}
	return os.ReadFile(name)
}

// runPipelineApply sets the cluster's pipeline.
func runPipelineApply(args []string, stdout, stderr io.Writer) (int, error) {
	return runModelAction(modelAction{name: "pipeline apply", arg: "FILE", refused: http.StatusUnprocessableEntity,
		about: "Sets FILE as the cluster's inbound pipeline (routing rules and handler chains) through group 0.\n" +
			"Every instance must run a binary with the handlers it names. An empty FILE removes the pipeline\n" +
			"(messages then wait in the queues). Exits 0 when set, 1 when refused, 2 when undecided (no quorum).",
		request: func(args []string) (string, string, []byte, error) {
			src, err := readInput(args[0])
			if err != nil {
				return "", "", nil, usagef("%v", err)
			}
			if strings.TrimSpace(string(src)) != "" {
				if _, err := handler.Parse(args[0], src); err != nil {
					return "", "", nil, usageError{err.Error()}
				}
			}
			return http.MethodPut, "/v1/pipeline", src, nil
		},
		done: func(body []byte) (string, error) {
			var res struct{ Revision int }
			err := json.Unmarshal(body, &res)
			return fmt.Sprintf("set as revision %d", res.Revision), err
		},
	}, args, stdout, stderr)
}

// runPipelineShow prints the pipeline in force.
func runPipelineShow(args []string, stdout, stderr io.Writer) (int, error) {
	reply, cf, done, code, err := modelRead("pipeline show", args, stderr, nil, func() string { return "/v1/pipeline" })
	if done {
		return code, err
	}
	if cf.json {
		reply.printJSON(stdout)
		return exitValid, nil
	}
	var st live.PipelineStatus
	if err := json.Unmarshal(reply.body, &st); err != nil {
		return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	if st.Source == "" {
		fmt.Fprintf(stdout, "no pipeline (revision %d): messages wait in the queues\n", st.Revision)
		return exitValid, nil
	}
	fmt.Fprintf(stdout, "# revision %d\n%s", st.Revision, st.Source)
	if !strings.HasSuffix(st.Source, "\n") {
		fmt.Fprintln(stdout)
	}
	return exitValid, nil
}
