package cli

import (
	"encoding/json"
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

// repairAction is one action on a repair entry.
func repairAction(name, about string, method, suffix string, body func(args []string) ([]byte, error), did string) func([]string, io.Writer, io.Writer) (int, error) {
	arg := "REPLICASET POSITION"
	if body != nil {
		arg += " FILE"
	}
	return func(args []string, stdout, stderr io.Writer) (int, error) {
		var target string // REPLICASET/POSITION
		return runModelAction(modelAction{name: name, arg: arg, refused: http.StatusNotFound, about: about,
			request: func(args []string) (string, string, []byte, error) {
				target = args[0] + "/" + args[1]
				path, err := repairPath(args)
				if err != nil {
					return "", "", nil, err
				}
				var b []byte
				if body != nil {
					if b, err = body(args); err != nil {
						return "", "", nil, err
					}
				}
				return method, path + suffix, b, nil
			},
			done: func(b []byte) (string, error) {
				var res struct {
					QueuedAt uint64 `json:"queued_at"`
				}
				err := json.Unmarshal(b, &res)
				if res.QueuedAt != 0 {
					return fmt.Sprintf("%s %s: back in the queue at position %d", did, target, res.QueuedAt), err
				}
				return fmt.Sprintf("%s %s", did, target), err
			},
		}, args, stdout, stderr)
	}
}

var (
	runRepairRetry = repairAction("repair retry",
		"Puts repair entry POSITION of REPLICASET back at the tail of the inbound queue, to run through the\n"+
			"pipeline again (its attempts counted). Exits 0 when done, 1 when there is no such entry.",
		http.MethodPost, "/retry", nil, "retried")
	runRepairPurge = repairAction("repair purge",
		"Deletes repair entry POSITION of REPLICASET. Exits 0 when done, 1 when there is no such entry.",
		http.MethodDelete, "", nil, "purged")
	runRepairEdit = repairAction("repair edit",
		"Replaces the payload of repair entry POSITION of REPLICASET with FILE's JSON object (- for stdin);\n"+
			"the entry stays in the repair queue until retried. Exits 0 when done, 1 when there is no such entry.",
		http.MethodPut, "", func(args []string) ([]byte, error) {
			b, err := readInput(args[2])
			if err != nil {
				return nil, usagef("%v", err)
			}
			return b, nil
		}, "edited")
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
		outbound = fs.Bool("outbound", false, "list the outbound messages that ran out of attempts instead (retry, edit or purge them with the API's ?kind=outbound)")
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
	reply, cf, done, code, err := apiRead("repair show", []string{"REPLICASET", "POSITION"}, args, stderr, nil, repairPath)
	if done {
		return code, err
	}
	if cf.json {
		reply.printJSON(stdout)
		return exitValid, nil
	}
	var e live.RepairEntry
	if err := json.Unmarshal(reply.body, &e); err != nil {
		return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
	}
	fmt.Fprintf(stdout, "position  %d\nid        %s\nconnector %s\nenqueued  %s\nattempts  %d\nfailed    %s\nreason    %s\n",
		e.Position, e.ID, e.Connector, e.EnqueuedAt.Format("2006-01-02T15:04:05.000Z07:00"), e.Attempts,
		e.FailedAt.Format("2006-01-02T15:04:05.000Z07:00"), failureText(e.Key, e.Step, e.Handler, e.Reason))
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
			oldest = q.OldestAt.Format("2006-01-02T15:04:05.000Z07:00")
		}
		fmt.Fprintf(stdout, "%-10s %8d %10d %8d %8d %10d  %s\n", q.Replicaset, q.Depth, q.Bytes, q.Repairs, q.Outbound, q.Settled, oldest)
		for _, d := range q.Destinations {
			oldest := "-"
			if d.OldestAt != nil {
				oldest = d.OldestAt.Format("2006-01-02T15:04:05.000Z07:00")
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal ingest CONNECTOR FILE --id ID [--key KEY] [--header 'X-Name: value']... [--addr ADDRS] [--json]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Hands the JSON object in FILE (- for stdin) to the inbound queue as a message from CONNECTOR, and")
		fmt.Fprintln(stderr, "prints where it waits. Exits 0 when enqueued, 1 when the queue is full (try again later),")
		fmt.Fprintln(stderr, "2 when the outcome is unknown (send it again: the id makes that safe), 3 for bad input.")
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
	}
	return reply.failure()
}
