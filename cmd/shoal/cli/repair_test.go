package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/live"
)

// TestRepairOutboundUsage: every repair command that acts on an entry
// takes --outbound, says so in its usage, and checks its arguments
// before it sends anything (no node listens at --addr).
func TestRepairOutboundUsage(t *testing.T) {
	const nowhere = "http://127.0.0.1:9"
	for _, cmd := range []string{"show", "edit", "retry", "purge"} {
		code, _, errs := shoal(t, "repair", cmd, "--help")
		if code != exitValid || !strings.Contains(errs, "[--outbound]") || !strings.Contains(errs, "-outbound") {
			t.Errorf("repair %s --help: exit %d, want 0 and a usage with --outbound:\n%s", cmd, code, errs)
		}
	}
	if _, _, errs := shoal(t, "repair", "list", "--help"); strings.Contains(errs, "kind=outbound") {
		t.Errorf("repair list --help still sends operators to the API:\n%s", errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"repair", "retry", "rs1", "0", "--outbound"}, `POSITION "0": want the entry's position`},
		{[]string{"repair", "purge", "rs1", "x7", "--outbound"}, `POSITION "x7"`},
		{[]string{"repair", "show", "--outbound", "rs1"}, "missing POSITION"},
		{[]string{"repair", "edit", "rs1", "3", "--outbound"}, "missing FILE"},
		{[]string{"repair", "edit", "rs1", "3", "/nonexistent/fixed.json", "--outbound"}, "/nonexistent/fixed.json"},
		{[]string{"repair", "retry", "--outbound=maybe", "rs1", "3"}, "-outbound"},
	} {
		code, _, errs := shoal(t, append(c.args, "--addr", nowhere)...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("shoal %s: exit %d %q, want 3 and %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
}

// TestRepairOutboundEndToEnd: three instances send customers to the
// webhook destination crm-sync, which has one attempt per message and
// a receiver that refuses. Both messages land in the outbound repair
// queue, where the CLI lists and shows them (destination, idempotency
// key, attempts, the receiver's answer), edits one and, once the
// receiver takes messages, retries it: the receiver gets the edited
// message with the idempotency key of the refused attempt. The other is
// purged and never sent again. Unknown entries are refused with exit 1
// and a message naming the replicaset and the position.
func TestRepairOutboundEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	var accept atomic.Bool
	hook := newTestHook(t, func(int) (int, time.Duration) {
		if accept.Load() {
			return http.StatusOK, 0
		}
		return http.StatusServiceUnavailable, 0
	})
	cluster := startPipelineCluster(t, pipelineWith(t, "", hook.srv.URL+"/customers", "timeout: 2s, max_attempts: 1"))
	addr := func(i int) string { return "http://" + cluster[i%len(cluster)].http }
	file := tempFiles(t)

	// Two customers, each refused on its one attempt.
	ids := []string{"o1", "o2"}
	for i, id := range ids {
		msg := file(id+".json", crmMessage(id, "2026-01-02T03:04:05Z"))
		serveEventually(t, 20*time.Second, "message "+id+" enqueued", func() error {
			code, out, errs := shoal(t, "ingest", "crm", msg, "--id", id, "--header", "X-Kind: customer", "--addr", addr(i))
			if code != exitValid {
				return fmt.Errorf("exit %d %q %q", code, out, errs)
			}
			return nil
		})
	}
	var q live.QueueBody
	serveEventually(t, 30*time.Second, "two outbound messages in the repair queue", func() error {
		code, out, errs := shoal(t, "repair", "list", "--outbound", "--json", "--addr", addr(0))
		if code != exitValid {
			return fmt.Errorf("repair list --outbound: exit %d %q", code, errs)
		}
		q = live.QueueBody{}
		if err := json.Unmarshal([]byte(out), &q); err != nil {
			return err
		}
		if len(q.OutEntries) != 2 {
			return fmt.Errorf("%d entries: %s", len(q.OutEntries), out)
		}
		return nil
	})
	rs := q.Replicaset
	entries := map[string]live.OutRepairBody{}
	for _, e := range q.OutEntries {
		entries[e.MessageID] = e
	}
	for _, id := range ids {
		e, ok := entries[id]
		refused := hook.requestsFor(id)
		switch {
		case !ok:
			t.Fatalf("no outbound repair entry from message %s: %+v", id, q.OutEntries)
		case e.Destination != "crm-sync" || e.Key != id || e.Attempts != 1 || e.Reason != "503 Service Unavailable":
			t.Errorf("%s's entry: %+v, want one attempt to crm-sync, refused with a 503", id, e)
		case len(refused) != 1 || refused[0].idem != e.IdempotencyKey || refused[0].status != http.StatusServiceUnavailable:
			t.Errorf("%s: the receiver got %+v, want one request refused, with idempotency key %s", id, refused, e.IdempotencyKey)
		}
	}
	o1, o2 := entries["o1"], entries["o2"]
	pos1, pos2 := strconv.FormatUint(o1.Position, 10), strconv.FormatUint(o2.Position, 10)

	code, out, errs := shoal(t, "repair", "list", "--outbound", "--addr", addr(1))
	if code != exitValid || !strings.HasPrefix(out, rs+": 2 outbound messages in the repair queue\n") ||
		!strings.Contains(out, "to crm-sync, key o1, from message o1, attempts 1, failed ") || !strings.Contains(out, ": 503 Service Unavailable\n") {
		t.Errorf("repair list --outbound: exit %d %q %q", code, out, errs)
	}
	code, out, errs = shoal(t, "repair", "show", rs, pos1, "--outbound", "--addr", addr(2))
	for _, want := range []string{"position        " + pos1 + "\n", "destination     crm-sync\n", "idempotency key " + o1.IdempotencyKey + "\n",
		"message         o1\n", "attempts        1\n", "reason          503 Service Unavailable\n", `"name":"Ada o1"`} {
		if code != exitValid || !strings.Contains(out, want) {
			t.Errorf("repair show --outbound: exit %d %q %q, want %q", code, out, errs, want)
		}
	}
	// Without --outbound the same position names an inbound repair
	// entry, and the inbound repair queue is empty.
	if code, out, errs := shoal(t, "repair", "show", rs, pos1, "--addr", addr(2)); code != exitInvalid || !strings.Contains(errs, "repair queue of "+rs+" has no entry "+pos1) {
		t.Errorf("repair show without --outbound: exit %d %q %q, want 1 and no inbound entry", code, out, errs)
	}

	// Unknown entries: exit 1, the replicaset and the position named.
	const unknown = "999"
	noEntry := rs + " have no entry " + unknown
	for _, args := range [][]string{
		{"show", rs, unknown},
		{"retry", rs, unknown},
		{"purge", rs, unknown},
		{"edit", rs, unknown, file("any.json", `{"a":1}`)},
	} {
		all := append(append([]string{"repair"}, args...), "--outbound", "--addr", addr(0))
		if code, out, errs := shoal(t, all...); code != exitInvalid || !strings.Contains(errs, noEntry) {
			t.Errorf("shoal %s: exit %d %q %q, want 1 and %q", strings.Join(all, " "), code, out, errs, noEntry)
		}
	}

	// o1 is edited: it stays in the repair queue, with the new value.
	edited := `{"customer":{"id":"o1","name":"Ada Edited","email":"o1@example.com"},"created_at":"2026-01-02T03:04:05Z"}`
	code, out, errs = shoal(t, "repair", "edit", rs, pos1, file("edited.json", edited), "--outbound", "--addr", addr(1))
	if want := "edited outbound " + rs + "/" + pos1 + "\n  to crm-sync, idempotency key " + o1.IdempotencyKey + ", from message o1, attempts 1, last failed "; code != exitValid ||
		!strings.HasPrefix(out, want) || !strings.HasSuffix(out, ": 503 Service Unavailable\n") {
		t.Errorf("repair edit --outbound: exit %d %q %q, want %q...", code, out, errs, want)
	}
	code, out, errs = shoal(t, "repair", "show", rs, pos1, "--outbound", "--json", "--addr", addr(2))
	var shown live.OutRepairBody
	if err := json.Unmarshal([]byte(out), &shown); code != exitValid || err != nil || !strings.Contains(string(shown.Payload), `"name":"Ada Edited"`) ||
		shown.IdempotencyKey != o1.IdempotencyKey {
		t.Errorf("repair show --outbound --json after the edit: exit %d %q %q (%v)", code, out, errs, err)
	}

	// The receiver recovers; o1 is retried and delivered, edited, with
	// the idempotency key of its refused attempt.
	accept.Store(true)
	code, out, errs = shoal(t, "repair", "retry", rs, pos1, "--outbound", "--addr", addr(0))
	retried := regexp.MustCompile(`^retried outbound ` + regexp.QuoteMeta(rs+"/"+pos1) + `: back in the queue of crm-sync at position (\d+)\n` +
		`  to crm-sync, idempotency key ` + regexp.QuoteMeta(o1.IdempotencyKey) + `, from message o1, attempts 1, last failed .*: 503 Service Unavailable\n$`).FindStringSubmatch(out)
	if code != exitValid || retried == nil {
		t.Errorf("repair retry --outbound: exit %d %q %q", code, out, errs)
	} else if at, _ := strconv.ParseUint(retried[1], 10, 64); at <= max(o1.Position, o2.Position) {
		t.Errorf("repair retry --outbound: back at position %d, want past the tail, %d", at, max(o1.Position, o2.Position))
	}
	serveEventually(t, 30*time.Second, "o1 taken by the receiver", func() error {
		for _, r := range hook.requestsFor("o1") {
			if r.status == http.StatusOK {
				return nil
			}
		}
		return fmt.Errorf("o1: requests %+v", hook.requestsFor("o1"))
	})
	for _, r := range hook.requestsFor("o1") {
		if r.idem != o1.IdempotencyKey {
			t.Errorf("o1 received with idempotency key %q, want %q: %+v", r.idem, o1.IdempotencyKey, r)
		}
		if r.status == http.StatusOK && r.body != edited {
			t.Errorf("o1 received as %s, want the edited %s", r.body, edited)
		}
	}
	if code, out, errs := shoal(t, "repair", "retry", rs, pos1, "--outbound", "--addr", addr(1)); code != exitInvalid || !strings.Contains(errs, rs+" have no entry "+pos1) {
		t.Errorf("retrying o1 again: exit %d %q %q, want 1 and no entry", code, out, errs)
	}

	// o2 is purged: nothing of it is left to send.
	code, out, errs = shoal(t, "repair", "purge", rs, pos2, "--outbound", "--addr", addr(2))
	if want := "purged outbound " + rs + "/" + pos2 + "\n  to crm-sync, idempotency key " + o2.IdempotencyKey + ", from message o2, attempts 1, "; code != exitValid ||
		!strings.HasPrefix(out, want) {
		t.Errorf("repair purge --outbound: exit %d %q %q, want %q...", code, out, errs, want)
	}
	if code, out, errs := shoal(t, "repair", "purge", rs, pos2, "--outbound", "--addr", addr(0)); code != exitInvalid || !strings.Contains(errs, rs+" have no entry "+pos2) {
		t.Errorf("purging o2 again: exit %d %q %q, want 1 and no entry", code, out, errs)
	}
	serveEventually(t, 30*time.Second, "empty outbound queues", func() error {
		code, out, errs := shoal(t, "queue", "--json", "--addr", addr(1))
		if code != exitValid {
			return fmt.Errorf("queue: exit %d %q", code, errs)
		}
		var qs []live.QueueBody
		if err := json.Unmarshal([]byte(out), &qs); err != nil {
			return err
		}
		for _, q := range qs {
			if q.Outbound != 0 || q.OutRepairs != 0 || q.Repairs != 0 {
				return fmt.Errorf("%s: %d outbound, %d outbound in repair, %d inbound in repair", q.Replicaset, q.Outbound, q.OutRepairs, q.Repairs)
			}
		}
		return nil
	})
	if reqs := hook.requestsFor("o2"); len(reqs) != 1 {
		t.Errorf("o2 was sent %d times, want once (refused, then purged): %+v", len(reqs), reqs)
	}
	if code, out, errs := shoal(t, "repair", "list", "--outbound", "--addr", addr(2)); code != exitValid || out != rs+": 0 outbound messages in the repair queue\n" {
		t.Errorf("repair list --outbound at the end: exit %d %q %q", code, out, errs)
	}
}

// requestsFor is the requests the hook received for customer id, in
// order.
func (h *testHook) requestsFor(id string) []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(h.reqs), func(r hookRequest) bool { return r.id != id })
}
