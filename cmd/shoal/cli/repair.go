package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/shoaldb/shoal/core/live"
)

// repairPath is the path of repair entry POSITION of REPLICASET, checked.
func repairPath(args []string) (string, error) {
	rs, pos := args[0], args[1]
	if n, err := strconv.ParseUint(pos, 10, 64); err != nil || n == 0 {
		return "", usagef("POSITION %q: want the entry's position, such as 7 (shoal repair list shows them)", pos)
	}
	if rs == "" {
		return "", usagef("REPLICASET: empty")
	}
	return "/v1/repair/" + url.PathEscape(rs) + "/" + pos, nil
}

// outboundKind is the query that makes a repair entry's path name an
// outbound repair entry.
const outboundKind = "?kind=outbound"

// timeLayout is how repair entries' times print.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// repairAction is an action on a repair entry: an inbound one, or with
// --outbound an outbound one.
type repairAction struct {
	name  string // "repair retry"
	about string // the help's text, for both kinds
	// method and suffix are the request's method and what follows the
	// entry's path.
	method, suffix string
	// body, if set, is the request's body, from the arguments after
	// REPLICASET POSITION (their names in file).
	body func(args []string) ([]byte, error)
	file string
	did  string // "retried"
}

func (ra repairAction) run(args []string, stdout, stderr io.Writer) (int, error) {
	var outbound *bool
	var target string // REPLICASET/POSITION
	var path string
	var entry live.OutRepairBody // the outbound entry, as it was before the action
	return runModelAction(modelAction{name: ra.name, arg: strings.TrimSpace("REPLICASET POSITION " + ra.file), refused: http.StatusNotFound, about: ra.about,
		flags: func(fs *flag.FlagSet) string {
			outbound = fs.Bool("outbound", false, "act on an outbound repair entry (shoal repair list --outbound) instead")
			return " [--outbound]"
		},
		request: func(args []string) (string, string, []byte, error) {
			target = args[0] + "/" + args[1]
			var err error
			if path, err = repairPath(args); err != nil {
				return "", "", nil, err
			}
			var b []byte
			if ra.body != nil {
				if b, err = ra.body(args); err != nil {
					return "", "", nil, err
				}
			}
			if *outbound {
				return ra.method, path + ra.suffix + outboundKind, b, nil
			}
			return ra.method, path + ra.suffix, b, nil
		},
		look: func(c *apiClient) (int, error) {
			if !*outbound {
				return exitValid, nil
			}
			return getOutRepair(c, path, &entry)
		},
		done: func(b []byte) (string, error) {
			var res struct {
				QueuedAt uint64 `json:"queued_at"`
			}
			err := json.Unmarshal(b, &res)
			switch {
			case *outbound && res.QueuedAt != 0:
				return fmt.Sprintf("%s outbound %s: back in the queue of %s at position %d\n  %s", ra.did, target, entry.Destination, res.QueuedAt, outRepairText(&entry)), err
			case *outbound:
				return fmt.Sprintf("%s outbound %s\n  %s", ra.did, target, outRepairText(&entry)), err
			case res.QueuedAt != 0:
				return fmt.Sprintf("%s %s: back in the queue at position %d", ra.did, target, res.QueuedAt), err
			}
			return fmt.Sprintf("%s %s", ra.did, target), err
		},
		refusal: func(r *apiReply) error {
			return fmt.Errorf("%s: %s", target, r.message())
		},
	}, args, stdout, stderr)
}

// getOutRepair reads the outbound repair entry at path (a repairPath)
// into e: exit 1 when there is none.
func getOutRepair(c *apiClient, path string, e *live.OutRepairBody) (int, error) {
	reply, err := c.do(http.MethodGet, path+outboundKind, nil, true)
	if err != nil {
		return exitInternal, err
	}
	switch reply.status {
	case http.StatusOK:
		if err := json.Unmarshal(reply.body, e); err != nil {
			return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
		}
		return exitValid, nil
	case http.StatusNotFound:
		return exitInvalid, errors.New(reply.message())
	}
	return reply.failure()
}

// outRepairText says where an outbound repair entry was going and why it
// is in the repair queue.
func outRepairText(e *live.OutRepairBody) string {
	return fmt.Sprintf("to %s, idempotency key %s, from message %s, attempts %d, last failed %s: %s",
		e.Destination, e.IdempotencyKey, e.MessageID, e.Attempts, e.FailedAt.Format(timeLayout), e.Reason)
}

var (
	runRepairRetry = repairAction{name: "repair retry", method: http.MethodPost, suffix: "/retry", did: "retried",
		about: "Puts repair entry POSITION of REPLICASET back at the tail of the inbound queue, to run through the\n" +
			"pipeline again (its attempts counted). With --outbound, puts outbound repair entry POSITION back at\n" +
			"the tail of its destination's queue, with its idempotency key, for up to the destination's\n" +
			"max_attempts more attempts. Exits 0 when done, 1 when there is no such entry.",
	}.run
	runRepairPurge = repairAction{name: "repair purge", method: http.MethodDelete, did: "purged",
		about: "Deletes repair entry POSITION of REPLICASET; with --outbound, outbound repair entry POSITION, which\n" +
			"its destination is then never sent. Exits 0 when done, 1 when there is no such entry.",
	}.run
	runRepairEdit = repairAction{name: "repair edit", method: http.MethodPut, file: "FILE", did: "edited",
		about: "Replaces the payload of repair entry POSITION of REPLICASET with FILE's JSON object (- for stdin);\n" +
			"with --outbound, the value of outbound repair entry POSITION (what its destination's template\n" +
			"renders; the idempotency key stays). The entry stays in the repair queue until retried.\n" +
			"Exits 0 when done, 1 when there is no such entry.",
		body: func(args []string) ([]byte, error) {
			b, err := readInput(args[2])
			if err != nil {
				return nil, usagef("%v", err)
			}
			return b, nil
		},
	}.run
)

// runRepairList lists a replicaset's repair queue.
func runRepairList(args []string, stdout, stderr io.Writer) (int, error) {
	var rs *string
	var after, limit *uint64
	var outbound *bool
	reply, cf, done, code, err := modelRead("repair list", args, stderr, func(fs *flag.FlagSet) string {
		rs = fs.String("replicaset", "", "the replicaset whose repair queue to list (needed when the cluster has several)")
		after = fs.Uint64("after", 0, "list the entries after this `position`")
		limit = fs.Uint64("limit", 100, "list at most this many entries (up to 1000)")
		outbound = fs.Bool("outbound", false, "list the outbound messages that ran out of attempts instead")
		return " [--replicaset RS] [--after N] [--limit N] [--outbound]"
	}, func() string {
		q := url.Values{}
		if *rs != "" {
			q.Set("replicaset", *rs)
		}
		if *outbound {
			q.Set("kind", "outbound")
		}
		if *after > 0 {
			q.Set("after", strconv.FormatUint(*after, 10))
		}
		q.Set("limit", strconv.FormatUint(*limit, 10))
		return "/v1/repair?" + q.Encode()
	})
	if done {
		return code, err
	}
	if cf.json {
		reply.printJSON(stdout)
		return exitValid, nil
	}
	var q live.QueueBody
	if err := json.Unmarshal(reply.body, &q); err != nil {
		return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	if *outbound {
		fmt.Fprintf(stdout, "%s: %d outbound messages in the repair queue\n", q.Replicaset, q.OutRepairs)
		for _, e := range q.OutEntries {
			fmt.Fprintf(stdout, "  %d  %s  to %s, key %s, from message %s, attempts %d, failed %s: %s\n", e.Position, e.IdempotencyKey,
				e.Destination, e.Key, e.MessageID, e.Attempts, e.FailedAt.Format("2006-01-02T15:04:05Z07:00"), e.Reason)
		}
		return exitValid, nil
	}
	fmt.Fprintf(stdout, "%s: %d in the repair queue, %d waiting, %d settled\n", q.Replicaset, q.Repairs, q.Depth, q.Settled)
	for _, e := range q.Entries {
		fmt.Fprintf(stdout, "  %d  %s  from %s, attempts %d, failed %s: %s\n", e.Position, e.ID, e.Connector, e.Attempts,
			e.FailedAt.Format("2006-01-02T15:04:05Z07:00"), failureText(e.Key, e.Step, e.Handler, e.Reason))
	}
	return exitValid, nil
}

// runRepairShow prints one repair entry, its payload included.
func runRepairShow(args []string, stdout, stderr io.Writer) (int, error) {
	var outbound *bool
	reply, cf, done, code, err := apiRead("repair show", []string{"REPLICASET", "POSITION"}, args, stderr, func(fs *flag.FlagSet) string {
		outbound = fs.Bool("outbound", false, "print an outbound repair entry (shoal repair list --outbound) instead: its destination, idempotency key, attempts and last failure")
		return " [--outbound]"
	}, func(pos []string) (string, error) {
		path, err := repairPath(pos)
		if *outbound {
			path += outboundKind
		}
		return path, err
	})
	if done {
		return code, err
	}
	if cf.json {
		reply.printJSON(stdout)
		return exitValid, nil
	}
	if *outbound {
		var e live.OutRepairBody
		if err := json.Unmarshal(reply.body, &e); err != nil {
			return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
		}
		fmt.Fprintf(stdout, "position        %d\ndestination     %s\nidempotency key %s\nkey             %s\nmessage         %s\n"+
			"queued          %s\nattempts        %d\nfailed          %s\nreason          %s\npayload         %s\n",
			e.Position, e.Destination, e.IdempotencyKey, e.Key, e.MessageID, e.QueuedAt.Format(timeLayout), e.Attempts,
			e.FailedAt.Format(timeLayout), e.Reason, e.Payload)
		return exitValid, nil
	}
	var e live.RepairEntry
	if err := json.Unmarshal(reply.body, &e); err != nil {
		return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	fmt.Fprintf(stdout, "position  %d\nid        %s\nconnector %s\nenqueued  %s\nattempts  %d\nfailed    %s\nreason    %s\n",
		e.Position, e.ID, e.Connector, e.EnqueuedAt.Format(timeLayout), e.Attempts,
		e.FailedAt.Format(timeLayout), failureText(e.Key, e.Step, e.Handler, e.Reason))
	for _, name := range slices.Sorted(maps.Keys(e.Headers)) {
		fmt.Fprintf(stdout, "header    %s: %s\n", name, e.Headers[name])
	}
	fmt.Fprintf(stdout, "payload   %s\n", e.Payload)
	return exitValid, nil
}

// runQueue prints every replicaset's queues.
func runQueue(args []string, stdout, stderr io.Writer) (int, error) {
	reply, cf, done, code, err := modelRead("queue", args, stderr, nil, func() string { return "/v1/queue" })
	if done {
		return code, err
	}
	if cf.json {
		reply.printJSON(stdout)
		return exitValid, nil
	}
	var qs []live.QueueBody
	if err := json.Unmarshal(reply.body, &qs); err != nil {
		return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	fmt.Fprintf(stdout, "%-10s %8s %10s %8s %8s %10s  %s\n", "replicaset", "waiting", "bytes", "repair", "outbound", "settled", "oldest waiting")
	for _, q := range qs {
		oldest := "-"
		if q.OldestAt != nil {
			oldest = q.OldestAt.Format(timeLayout)
		}
		fmt.Fprintf(stdout, "%-10s %8d %10d %8d %8d %10d  %s\n", q.Replicaset, q.Depth, q.Bytes, q.Repairs, q.Outbound, q.Settled, oldest)
		for _, d := range q.Destinations {
			oldest := "-"
			if d.OldestAt != nil {
				oldest = d.OldestAt.Format(timeLayout)
			}
			fmt.Fprintf(stdout, "  -> %-30s %8d waiting, oldest %s\n", d.Destination, d.Depth, oldest)
		}
		if q.OutRepairs > 0 {
			fmt.Fprintf(stdout, "  -> %d outbound messages in the repair queue (shoal repair list --outbound)\n", q.OutRepairs)
		}
	}
	return exitValid, nil
}

// runIngest hands one message to the cluster's inbound queue.
func runIngest(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	id := fs.String("id", "", "the message's `id`: the idempotency key by which a message sent again counts once (required)")
	key := fs.String("key", "", "the `key` that picks the message's replicaset (default: the id)")
	var headers listFlag
	fs.Var(&headers, "header", "a message header, as `'X-Name: value'` (repeatable; only X- headers travel with the message)")
	fs.Lookup("token").Usage = tokenFlagUsage
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal ingest CONNECTOR FILE --id ID [--key KEY] [--header 'X-Name: value']... [--token TOKEN] [--addr ADDRS] [--json]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Hands the JSON object in FILE (- for stdin) to the inbound queue as a message from CONNECTOR, and")
		fmt.Fprintln(stderr, "prints where it waits. Exits 0 when enqueued, 1 when the queue is full (try again later),")
		fmt.Fprintln(stderr, "2 when the outcome is unknown (send it again: the id makes that safe), 3 for bad input,")
		fmt.Fprintln(stderr, "a token missing or not taken among it (when CONNECTOR declares token_sha256, or the cluster")
		fmt.Fprintln(stderr, "has API tokens: an API token whose role may ingest is taken by every connector).")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseClientArgs(fs, args)
	if done {
		return code, err
	}
	if err := wantArgs(pos, "CONNECTOR", "FILE"); err != nil {
		return exitUsage, err
	}
	if *id == "" {
		return exitUsage, usagef("--id: a message needs an id")
	}
	token, err := ingestToken(fs, cf.token)
	if err != nil {
		return exitUsage, err
	}
	body, err := readInput(pos[1])
	if err != nil {
		return exitUsage, usagef("%v", err)
	}
	h := http.Header{}
	h.Set(live.HeaderMessageID, *id)
	if *key != "" {
		h.Set(live.HeaderMessageKey, *key)
	}
	for _, hv := range headers {
		name, value, ok := strings.Cut(hv, ":")
		if !ok || !strings.HasPrefix(http.CanonicalHeaderKey(strings.TrimSpace(name)), live.IngestHeaderPrefix) {
			return exitUsage, usagef("--header %q: want 'X-Name: value'", hv)
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	c, err := cf.client()
	if err != nil {
		return exitUsage, err
	}
	reply, err := c.doWith(http.MethodPost, "/v1/ingest/"+url.PathEscape(pos[0]), h, body, false)
	if err != nil {
		return unanswered(err)
	}
	if cf.json {
		reply.printJSON(stdout)
	}
	switch reply.status {
	case http.StatusAccepted:
		var res live.IngestResult
		if err := json.Unmarshal(reply.body, &res); err != nil {
			return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
		}
		if !cf.json {
			fmt.Fprintf(stdout, "enqueued %s in %s at position %d\n", res.ID, res.Replicaset, res.Position)
		}
		return exitValid, nil
	case http.StatusTooManyRequests:
		return exitInvalid, fmt.Errorf("%s", reply.message())
	case http.StatusUnauthorized, http.StatusForbidden:
		if msg, ok := reply.apiError(); ok {
			return exitUsage, usagef("%s (--token, or env %s)", msg, tokenEnv)
		}
	}
	return reply.failure()
}
