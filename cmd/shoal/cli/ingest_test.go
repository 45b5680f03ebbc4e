package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/live"
)

const examplePipeline = "../../../scenarios/examples/pipeline.yaml"

// crmMessage is a message of the example pipeline's crm connector that
// becomes Customer id; created "yesterday" makes it fail validation.
func crmMessage(id, created string) string {
	return fmt.Sprintf(`{"customer":{"id":%q,"name":"Ada %s","email":"%s@example.com"},"created_at":%q}`, id, id, id, created)
}

// tempFiles returns a function that writes a file, name holding body,
// in a temporary directory of the test's own and returns its path.
func tempFiles(t *testing.T) func(name, body string) string {
	t.Helper()
	dir := t.TempDir()
	return func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// TestIngestCluster runs the inbound pipeline on three real instances
// started with --model and --pipeline: messages handed in through any
// instance (the CLI and HTTP) are stored as the pipeline says; a bad one
// lands in the repair queue with its reason, is edited and retried, and
// is stored; another is purged; a message sent twice counts once; the
// leader is killed and restarted with messages in flight, and every
// acknowledged message is stored exactly once.
func TestIngestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	cluster := newCluster(t, 3, func(int) []string { return []string{"--model", exampleModel, "--pipeline", examplePipeline} })
	for _, in := range cluster {
		in.start(t)
	}
	addr := func(in *serveInstance) string { return "http://" + in.http }
	file := tempFiles(t)
	// The model and the pipeline come into force once the cluster forms.
	serveEventually(t, 60*time.Second, "the pipeline in force", func() error {
		code, out, errs := shoal(t, "pipeline", "show", "--addr", addr(cluster[2]))
		if code != exitValid || !strings.Contains(out, "chains:") {
			return fmt.Errorf("pipeline show: exit %d %q %q", code, out, errs)
		}
		return nil
	})

	// Through the CLI, from each instance.
	ingest := func(in *serveInstance, id, body string, extra ...string) (int, string, string) {
		args := append([]string{"ingest", "crm", file(id+".json", body), "--id", id, "--header", "X-Kind: customer", "--addr", addr(in)}, extra...)
		return shoal(t, args...)
	}
	for i, in := range cluster {
		id := fmt.Sprint("c", i+1)
		serveEventually(t, 20*time.Second, "message "+id+" enqueued", func() error {
			code, out, errs := ingest(in, id, crmMessage(id, "2024-01-02T03:04:05Z"))
			if code != exitValid || !strings.HasPrefix(out, "enqueued "+id+" in rs1 at position ") {
				return fmt.Errorf("exit %d %q %q", code, out, errs)
			}
			return nil
		})
	}
	// The same id again: the first message's position, nothing new.
	code, out, errs := ingest(cluster[0], "c1", crmMessage("c1", "2030-01-01T00:00:00Z"))
	if code != exitValid || !strings.HasPrefix(out, "enqueued c1 in rs1 at position 1") {
		t.Errorf("c1 sent again: exit %d %q %q", code, out, errs)
	}
	for i := range cluster {
		id := fmt.Sprint("c", i+1)
		wantObjectField(t, addr(cluster[(i+1)%3]), "/v1/data/Customer/"+id, `"first_name":"Ada"`)
	}
	wantObjectField(t, addr(cluster[1]), "/v1/data/Customer/c1", `"created":"2024-01-02T03:04:05Z"`)

	// A bad message (a creation time that is no timestamp) and one no rule
	// routes (no X-Kind) land in the repair queue, with their reasons.
	if code, out, errs := ingest(cluster[1], "bad1", crmMessage("b1", "yesterday")); code != exitValid {
		t.Fatalf("bad1: exit %d %q %q", code, out, errs)
	}
	if code, out, errs := shoal(t, "ingest", "crm", file("bad2.json", crmMessage("b2", "2024-01-02T03:04:05Z")), "--id", "bad2", "--addr", addr(cluster[2])); code != exitValid {
		t.Fatalf("bad2: exit %d %q %q", code, out, errs)
	}
	var entries []live.RepairEntry
	serveEventually(t, 10*time.Second, "two messages in the repair queue", func() error {
		code, out, errs := shoal(t, "repair", "list", "--json", "--addr", addr(cluster[0]))
		if code != exitValid {
			return fmt.Errorf("repair list: exit %d %q", code, errs)
		}
		var q live.QueueBody
		if err := json.Unmarshal([]byte(out), &q); err != nil {
			return err
		}
		if entries = q.Entries; len(entries) != 2 {
			return fmt.Errorf("%d entries: %s", len(entries), out)
		}
		return nil
	})
	byID := map[string]live.RepairEntry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	bad1, bad2 := byID["bad1"], byID["bad2"]
	if !strings.Contains(bad1.Reason, "created") || bad1.Attempts != 1 || bad1.Connector != "crm" || bad1.Headers["X-Kind"] != "customer" {
		t.Errorf("bad1's entry: %+v", bad1)
	}
	if bad2.Reason != "no rule matched" || bad2.Step != -1 {
		t.Errorf("bad2's entry: %+v", bad2)
	}
	code, out, _ = shoal(t, "repair", "list", "--addr", addr(cluster[1]))
	if code != exitValid || !strings.Contains(out, "rs1: 2 in the repair queue") || !strings.Contains(out, "no rule matched") {
		t.Errorf("repair list: exit %d %q", code, out)
	}
	pos1, pos2 := fmt.Sprint(bad1.Position), fmt.Sprint(bad2.Position)
	code, out, _ = shoal(t, "repair", "show", "rs1", pos1, "--addr", addr(cluster[2]))
	if code != exitValid || !strings.Contains(out, "payload   "+crmMessage("b1", "yesterday")) {
		t.Errorf("repair show: exit %d %q", code, out)
	}
	// Edited and retried, bad1 is stored; bad2 is purged.
	code, out, errs = shoal(t, "repair", "edit", "rs1", pos1, file("fixed.json", crmMessage("b1", "2024-05-06T07:08:09Z")), "--addr", addr(cluster[2]))
	if code != exitValid || strings.TrimSpace(out) != "edited rs1/"+pos1 {
		t.Errorf("repair edit: exit %d %q %q", code, out, errs)
	}
	code, out, errs = shoal(t, "repair", "retry", "rs1", pos1, "--addr", addr(cluster[0]))
	if code != exitValid || !strings.HasPrefix(out, "retried rs1/"+pos1+": back in the queue at position ") {
		t.Errorf("repair retry: exit %d %q %q", code, out, errs)
	}
	wantObjectField(t, addr(cluster[1]), "/v1/data/Customer/b1", `"created":"2024-05-06T07:08:09Z"`)
	if code, out, errs := shoal(t, "repair", "purge", "rs1", pos2, "--addr", addr(cluster[1])); code != exitValid {
		t.Errorf("repair purge: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := shoal(t, "repair", "purge", "rs1", pos2, "--addr", addr(cluster[1])); code != exitInvalid || !strings.Contains(errs, "no entry") {
		t.Errorf("purging it again: exit %d %q, want 1 and no entry", code, errs)
	}
	code, out, _ = shoal(t, "queue", "--addr", addr(cluster[0]))
	if code != exitValid || !regexp.MustCompile(`rs1 +0 +\d+ +0 +0 +6`).MatchString(out) {
		t.Errorf("queue: exit %d %q, want rs1 with nothing waiting or in repair and 6 settled", code, out)
	}

	// A stream of messages over HTTP while the data leader is killed and
	// restarted: every acknowledged one is stored once.
	leader := dataLeader(t, cluster[0])
	acked := map[string]bool{}
	var killed *serveInstance
	for i := range 150 {
		id := fmt.Sprint("s", i)
		if i == 50 {
			for _, in := range cluster {
				if in.name == leader {
					in.signal(t, syscall.SIGKILL)
					in.wait(t)
					killed = in
				}
			}
		}
		if i == 100 && killed != nil {
			killed.start(t)
		}
		var alive []*serveInstance
		for _, in := range cluster {
			if in != killed || i >= 100 {
				alive = append(alive, in)
			}
		}
		for attempt := range 20 {
			req := mustRequest(t, "POST", addr(alive[(i+attempt)%len(alive)])+"/v1/ingest/crm", []byte(crmMessage(id, "2024-01-02T03:04:05Z")))
			req.Header.Set("Idempotency-Key", id)
			req.Header.Set("X-Kind", "customer")
			resp, err := serveClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 202 {
					acked[id] = true
					break
				}
			}
			// Unknown or refused: sending it again is safe, the id counts once.
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(acked) < 140 {
		t.Fatalf("only %d of 150 messages acknowledged", len(acked))
	}
	for id := range acked {
		wantObjectField(t, addr(cluster[0]), "/v1/data/Customer/"+id+"/history", `"history":[{"version":2`)
		status, body, err := dataCall("GET", addr(cluster[0])+"/v1/data/Customer/"+id+"/history", "")
		if err != nil || status != 200 || strings.Count(body, `"revision":`) != 1 {
			t.Errorf("Customer %s's history: %v %d %s: want one version, written once", id, err, status, body)
		}
	}

	// shoal bench --mix ingest measures the pipeline end to end.
	var addrs []string
	for _, in := range cluster {
		addrs = append(addrs, addr(in))
	}
	code, out, errs = shoal(t, "bench", "--mix", "ingest", "--addr", strings.Join(addrs, ","), "--clients", "6", "--duration", "1s",
		"--warmup", "200ms", "--json")
	if code != exitValid {
		t.Fatalf("bench --mix ingest: exit %d\n%s\n%s", code, out, errs)
	}
	var rep benchReport
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("the report is not the JSON it should be: %v\n%s", err, out)
	}
	if in := rep.Ingest; rep.OK == 0 || rep.Errors != 0 || in == nil || in.Settled < rep.OK/2 || in.Samples == 0 || in.EndToEnd.P50 <= 0 || in.Repaired != 0 {
		t.Errorf("bench --mix ingest: %d acknowledged, %d errors (%v), ingest %+v", rep.OK, rep.Errors, rep.ErrorsByKind, rep.Ingest)
	}
	code, _, errs = shoal(t, "bench", "--mix", "ingest", "--system", "etcd")
	if code != exitUsage || !strings.Contains(errs, "--mix ingest: only for --system shoal") {
		t.Errorf("bench --mix ingest --system etcd: exit %d %q", code, errs)
	}
}

// wantObjectField reads path through base until the body contains want.
func wantObjectField(t *testing.T, base, path, want string) {
	t.Helper()
	serveEventually(t, 20*time.Second, path+" holding "+want, func() error {
		status, body, err := dataCall("GET", base+path, "")
		if err != nil {
			return err
		}
		if status != 200 || !strings.Contains(body, want) {
			return fmt.Errorf("%d %s", status, body)
		}
		return nil
	})
}

// TestPipelineCheck: shoal pipeline check validates a file offline with
// this binary's handlers and runs a message through it.
func TestPipelineCheck(t *testing.T) {
	write := tempFiles(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // in stdout
	}{
		{"valid", []string{examplePipeline}, exitValid, []string{"pipeline.yaml: valid", "customers: map → drop → set-type"}},
		{"invalid", []string{write("bad.yaml", "routes: {default: x}\nchains:\n  y: [{set-type: T}]\n")}, exitInvalid,
			[]string{`bad.yaml:1: routes.default: the default gives routing key "x", which has no chain`}},
		{"a message stored", []string{examplePipeline, "--model", exampleModel, "--connector", "crm", "--header", "X-Kind: customer",
			"--message", write("m.json", crmMessage("c9", "2024-01-02T03:04:05Z"))}, exitValid,
			[]string{"routing keys: customers", `store Customer (version 2, chain customers): {"created":"2024-01-02T03:04:05Z","email":"c9@example.com","first_name":"Ada","id":"c9","last_name":"c9","newsletter":false,"tier":"basic"}`}},
		{"a message the model refuses", []string{examplePipeline, "--model", exampleModel, "--connector", "crm", "--header", "X-Kind: customer",
			"--message", write("b.json", crmMessage("c9", "yesterday"))}, exitInvalid, []string{"to the repair queue: storing Customer: $.created:"}},
		{"a message no rule routes", []string{examplePipeline, "--message", write("u.json", "{}")}, exitInvalid,
			[]string{"to the repair queue: no rule matched"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := shoal(t, append([]string{"pipeline", "check"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
