package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/examples"
)

const (
	exampleModel     = "../../../scenarios/examples/model.yaml"
	exampleModelNext = "../../../scenarios/examples/model-next.yaml"

	// A Customer at version 1 of the example model, and as versions 2
	// (model.yaml) and 3 (model-next.yaml) show it.
	customerV1 = `{"id":"c1","name":"Ada Lovelace","email":"ada@example.com","created":"2024-01-02T03:04:05Z"}`
	customerV2 = `{"created":"2024-01-02T03:04:05Z","email":"ada@example.com","first_name":"Ada","id":"c1","last_name":"Lovelace","newsletter":false,"tier":"basic"}`
	customerV3 = `{"created":"2024-01-02T03:04:05Z","email":"ada@example.com","id":"c1","level":"basic","name":"Ada Lovelace","phone":null}`
	order      = `{"id":"o1","customer_id":"c1","placed":"2024-01-02T03:04:05Z","status":"open",` +
		`"lines":[{"sku":"p1","quantity":2,"unit_price":"9.95"}],"total":"19.90","note":null,` +
		`"shipping_address":{"street":"Main 1","city":"Delft","zip":"2611AA"}}`
)

// dataCall sends body (if any) to url and returns the status and body.
func dataCall(method, url, body string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, "", err
	}
	resp, err := serveClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// wantObject reads an object through base's API until it has the version
// and shape wanted: the model in force reaches each instance in its time.
func wantObject(t *testing.T, base, path string, version int, object string) {
	t.Helper()
	serveEventually(t, 10*time.Second, fmt.Sprintf("GET %s in version %d", path, version), func() error {
		status, body, err := dataCall("GET", base+path, "")
		if err != nil {
			return err
		}
		var got live.ObjectBody
		if status != 200 || json.Unmarshal([]byte(body), &got) != nil {
			return fmt.Errorf("%d %s", status, body)
		}
		if got.Version != version || string(got.Object) != object {
			return fmt.Errorf("version %d %s, want version %d %s", got.Version, got.Object, version, object)
		}
		return nil
	})
}

func TestModelCheck(t *testing.T) {
	code, out, errs := shoal(t, "model", "check", exampleModel)
	if code != exitValid || !strings.Contains(out, "model.yaml: valid, digest 6045f30673ce05ee") || !strings.Contains(out, "Customer: key (id), version 2") {
		t.Errorf("check model.yaml: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = shoal(t, "model", "check", exampleModel, exampleModelNext)
	if code != exitValid || !strings.Contains(out, "model-next.yaml: valid") || !strings.Contains(out, "Customer: key (id), version 3") {
		t.Errorf("check model.yaml model-next.yaml: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = shoal(t, "model", "check", exampleModelNext, exampleModel)
	if code != exitInvalid || !strings.Contains(out, "cannot replace") || !strings.Contains(out, "types.Customer.versions[2]: version 3 is gone") {
		t.Errorf("check model-next.yaml model.yaml: exit %d, want 1\n%s%s", code, out, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("types:\n  Customer:\n    key: [id]\n    versions:\n      - version: 1\n        fields:\n          id: strng\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = shoal(t, "model", "check", bad)
	if want := bad + `:7: types.Customer.versions[0].fields.id: unknown field type "strng" (did you mean string?)`; code != exitInvalid || strings.TrimSpace(out) != want {
		t.Errorf("check bad.yaml: exit %d, %q %q\nwant 1, %q", code, out, errs, want)
	}
	if code, _, _ := shoal(t, "model", "check", filepath.Join(t.TempDir(), "none.yaml")); code != exitUsage {
		t.Errorf("check a missing file: exit %d, want 3", code)
	}
}

// TestModelCluster runs three `shoal serve` processes on loopback and
// takes a data model through its life: applied, objects written at old
// versions and read in the latest, a successor applied and the objects
// read in its shape, a model that is no successor refused, and, with two
// instances killed, a proposal left undecided.
func TestModelCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	started := time.Now()
	cluster := newCluster(t, 3, nil)
	for _, in := range cluster {
		in.start(t)
	}
	addr := func(in *serveInstance) string { return "http://" + in.http }
	serveEventually(t, 30*time.Second, "a formed cluster", func() error {
		a, err := servePut(cluster[0], "k", "v")
		if err == nil && a.status != 200 {
			err = fmt.Errorf("%d %s", a.status, a.Error)
		}
		return err
	})
	t.Logf("formed in %s", time.Since(started).Round(time.Millisecond))

	// No model yet: the data API says so.
	if status, body, err := dataCall("PUT", addr(cluster[1])+"/v1/data/Customer?version=1", customerV1); err != nil || status != 404 || !strings.Contains(body, "no data model yet") {
		t.Errorf("PUT a Customer without a model: %v %d %s", err, status, body)
	}
	code, out, errs := shoal(t, "model", "apply", exampleModel, "--addr", addr(cluster[0]))
	if code != exitValid || strings.TrimSpace(out) != "accepted as revision 1" {
		t.Fatalf("model apply model.yaml: exit %d, %q %q", code, out, errs)
	}
	// Accepted is committed in group 0; each instance has the model in
	// force once it has applied that entry, which the others do a
	// heartbeat or so later.
	for _, in := range cluster {
		serveEventually(t, 10*time.Second, in.name+" with the model in force", func() error {
			status, body, err := dataCall("GET", addr(in)+"/v1/model", "")
			if err == nil && (status != 200 || !strings.Contains(body, `"revision":1`)) {
				err = fmt.Errorf("%d %s", status, body)
			}
			return err
		})
	}
	// Objects written through the other instances, at old versions.
	if status, body, err := dataCall("PUT", addr(cluster[1])+"/v1/data/Customer?version=1", customerV1); err != nil || status != 200 ||
		!strings.HasPrefix(body, `{"type":"Customer","key":"c1","version":2,"revision":`) {
		t.Fatalf("PUT a Customer at version 1: %v %d %s", err, status, body)
	}
	if status, body, err := dataCall("PUT", addr(cluster[2])+"/v1/data/Order", order); err != nil || status != 200 ||
		!strings.HasPrefix(body, `{"type":"Order","key":"c1,o1","version":1,"revision":`) {
		t.Fatalf("PUT an Order: %v %d %s", err, status, body)
	}
	if status, body, err := dataCall("PUT", addr(cluster[2])+"/v1/data/Customer?version=1", `{"id":"c2","name":5}`); err != nil || status != 400 ||
		body != `{"error":"$.name: expected string, got number","code":"bad_request"}` {
		t.Errorf("PUT a bad Customer: %v %d %s", err, status, body)
	}
	wantObject(t, addr(cluster[2]), "/v1/data/Customer/c1", 2, customerV2)

	code, out, errs = shoal(t, "model", "apply", exampleModelNext, "--addr", addr(cluster[1]))
	if code != exitValid || strings.TrimSpace(out) != "accepted as revision 2" {
		t.Fatalf("model apply model-next.yaml: exit %d, %q %q", code, out, errs)
	}
	wantObject(t, addr(cluster[0]), "/v1/data/Customer/c1", 3, customerV3)
	wantObject(t, addr(cluster[1]), "/v1/data/Order/c1,o1", 2,
		`{"customer_id":"c1","id":"o1","lines":[{"quantity":2,"sku":"p1","unit_price":"9.95"}],"placed":"2024-01-02T03:04:05Z","remark":null,`+
			`"shipping_address":{"city":"Delft","country":"NL","phone":null,"postcode":"2611AA","street":"Main 1"},"status":"open","total":19.9}`)

	// Every instance reports the model in force in its metrics.
	for _, in := range cluster {
		serveEventually(t, 10*time.Second, in.name+" reports model revision 2", func() error {
			_, body, err := dataCall("GET", addr(in)+"/metrics", "")
			if err != nil {
				return err
			}
			if !strings.Contains(body, "\nshoal_model_revision 2\n") {
				return fmt.Errorf("no shoal_model_revision 2 in its metrics")
			}
			return nil
		})
	}

	code, out, errs = shoal(t, "model", "versions", "--addr", addr(cluster[2]))
	if want := "revision 1  digest 6045f30673ce05ee\nrevision 2  digest 9dffca86dc7dfd5c\n"; code != exitValid || out != want {
		t.Errorf("model versions: exit %d, %q %q\nwant %q", code, out, errs, want)
	}
	code, out, errs = shoal(t, "model", "show", "--addr", addr(cluster[0]))
	if code != exitValid || !strings.HasPrefix(out, "revision 2, digest 9dffca86dc7dfd5c\n") {
		t.Errorf("model show: exit %d, %.200q %q", code, out, errs)
	}

	// Nothing is pending to cancel.
	code, out, errs = shoal(t, "model", "cancel", "3", "--addr", addr(cluster[0]))
	if code != exitInvalid || !strings.Contains(errs, "no change to revision 3 is pending") {
		t.Errorf("model cancel 3: exit %d, %q %q; want 1, none pending", code, out, errs)
	}

	// model.yaml cannot follow model-next.yaml: its versions are gone.
	code, out, errs = shoal(t, "model", "apply", exampleModel, "--addr", addr(cluster[2]))
	if code != exitInvalid || !strings.Contains(errs, "not a successor of revision 2") {
		t.Errorf("model apply model.yaml again: exit %d, %q %q; want 1, not a successor", code, out, errs)
	}
	reply, err := serveClient.Do(mustRequest(t, "PUT", addr(cluster[2])+"/v1/model", examples.Model))
	if err != nil {
		t.Fatal(err)
	}
	reply.Body.Close()
	if reply.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("PUT /v1/model of a model that is no successor: %d, want 422", reply.StatusCode)
	}

	// With two of the three instances gone, group 0 has no quorum: a
	// successor can be neither accepted nor refused.
	next := filepath.Join(t.TempDir(), "model-3.yaml")
	third := string(examples.ModelNext) + "\n  Note:\n    key: [id]\n    versions:\n      - version: 1\n        fields:\n          id: string\n"
	if err := os.WriteFile(next, []byte(third), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := shoal(t, "model", "check", exampleModelNext, next); code != exitValid {
		t.Fatalf("model-3.yaml is no successor of model-next.yaml: %d %s %s", code, out, errs)
	}
	for _, in := range cluster[:2] {
		in.signal(t, syscall.SIGKILL)
	}
	for _, in := range cluster[:2] {
		in.wait(t)
	}
	undecided := time.Now()
	code, out, errs = shoal(t, "model", "apply", next, "--addr", addr(cluster[2]))
	t.Logf("model apply without a quorum: exit %d after %s: %s", code, time.Since(undecided).Round(time.Millisecond), strings.TrimSpace(errs))
	if code != exitUnknown || !strings.Contains(errs, "the outcome is unknown") {
		t.Errorf("model apply without a quorum: exit %d, %q %q; want 2, the outcome is unknown", code, out, errs)
	}
	cluster[2].signal(t, syscall.SIGTERM)
	if code := cluster[2].wait(t); code != 0 {
		t.Errorf("%s exited with %d after SIGTERM", cluster[2].name, code)
	}
	t.Logf("the whole test: %s", time.Since(started).Round(time.Millisecond))
}

func mustRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestServeModel starts three instances with the same --model: one
// proposal wins, the others find the model in force, and none of them
// logs an error about it.
func TestServeModel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	cluster := newCluster(t, 3, func(int) []string { return []string{"--model", exampleModel} })
	for _, in := range cluster {
		in.start(t)
	}
	settled := regexp.MustCompile(`msg="model: (in force|accepted)"`)
	serveEventually(t, 30*time.Second, "every instance settles the model", func() error {
		for _, in := range cluster {
			b, err := os.ReadFile(in.log.Name())
			if err != nil {
				return err
			}
			if !settled.Match(b) {
				return fmt.Errorf("%s has not logged the model in force", in.name)
			}
		}
		return nil
	})
	accepted := 0
	for _, in := range cluster {
		b, _ := os.ReadFile(in.log.Name())
		accepted += bytes.Count(b, []byte(`msg="model: accepted"`))
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, "model:") && strings.Contains(line, "level=ERROR") {
				t.Errorf("%s: %s", in.name, line)
			}
		}
	}
	if accepted != 1 {
		t.Errorf("%d instances logged the model accepted, want 1", accepted)
	}
	code, out, errs := shoal(t, "model", "versions", "--addr", cluster[1].http)
	if want := "revision 1  digest 6045f30673ce05ee\n"; code != exitValid || out != want {
		t.Errorf("model versions: exit %d, %q %q, want %q", code, out, errs, want)
	}
	for _, in := range cluster {
		in.signal(t, syscall.SIGTERM)
	}
	for _, in := range cluster {
		if code := in.wait(t); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM", in.name, code)
		}
	}
}

func TestServeModelRefusesABadFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("types:\n  customer: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := shoal(t, "serve", "--name", "n1", "--data-dir", filepath.Join(dir, "d"), "--http-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0", "--model", bad)
	if code != exitUsage || !strings.Contains(errs, bad+":2: ") {
		t.Errorf("serve --model bad.yaml: exit %d, %q; want 3 and the parser's message", code, errs)
	}
	code, _, errs = shoal(t, "serve", "--name", "n1", "--data-dir", filepath.Join(dir, "d"), "--model", filepath.Join(dir, "none.yaml"))
	if code != exitUsage || !strings.Contains(errs, "none.yaml") {
		t.Errorf("serve --model none.yaml: exit %d, %q; want 3", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "d")); !os.IsNotExist(err) {
		t.Errorf("a refused start made its data directory: %v", err)
	}
}

// TestServeDevModel starts `shoal serve --dev` and runs the data API
// examples it prints, as a newcomer would paste them.
func TestServeDevModel(t *testing.T) {
	cmd, lines := startDev(t)
	putLine := regexp.MustCompile(`^\s+curl -X PUT -d '(\{.*\})' '(http://\S+/v1/data/Customer\?version=1)'$`)
	getLine := regexp.MustCompile(`^\s+curl (http://\S+/v1/data/Customer/c1)$`)
	gqlLine := regexp.MustCompile(`^\s+curl -d '(\{.*\})' (http://\S+/v1/graphql)$`)
	var body, putURL, getURL, gqlBody, gqlURL string
	var printed []string
	deadline := time.After(30 * time.Second)
	for gqlURL == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("shoal serve --dev ended before printing the data API's examples:\n%s", strings.Join(printed, "\n"))
			}
			printed = append(printed, line)
			if m := putLine.FindStringSubmatch(line); m != nil {
				body, putURL = m[1], m[2]
			}
			if m := getLine.FindStringSubmatch(line); m != nil {
				getURL = m[1]
			}
			if m := gqlLine.FindStringSubmatch(line); m != nil {
				gqlBody, gqlURL = m[1], m[2]
			}
		case <-deadline:
			t.Fatalf("shoal serve --dev printed no data API example within 30s:\n%s", strings.Join(printed, "\n"))
		}
	}
	go func() {
		for range lines {
		}
	}()
	if putURL == "" || getURL == "" || !strings.Contains(strings.Join(printed, "\n"), "data API") {
		t.Fatalf("no PUT example before the GET:\n%s", strings.Join(printed, "\n"))
	}
	// curl -d sends application/x-www-form-urlencoded.
	req, _ := http.NewRequest("PUT", putURL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := serveClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the printed PUT: %d %s", resp.StatusCode, b)
	}
	base := strings.TrimSuffix(getURL, "/v1/data/Customer/c1")
	wantObject(t, base, "/v1/data/Customer/c1", 2, customerV2)

	// The example dataset is there, every object of it, and the printed
	// GraphQL example answers what README.md says it does.
	resp, err = serveClient.Post(gqlURL, "application/x-www-form-urlencoded", strings.NewReader(gqlBody))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	const answer = `{"data":{"Customer":{"first_name":"Alan","tier":"gold","orders":{"edges":[{"node":{"id":"o1","status":"shipped","total":"189.99"}},{"node":{"id":"o2","status":"paid","total":"49"}}]}}}}`
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != answer {
		t.Errorf("the printed GraphQL query: %d %s, want %s", resp.StatusCode, b, answer)
	}
	m, _ := model.Parse(devModelFile, examples.Model)
	objs, err := parseDataset(devDatasetFile, examples.Dataset, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		t.Run("", func(t *testing.T) {
			typ, _ := m.Type(o.Type)
			v := o.Version
			if v == 0 {
				v = typ.Latest()
			}
			obj, err := typ.Validate(v, o.Object)
			if err != nil {
				t.Fatal(err)
			}
			pk, err := typ.PrimaryKey(obj)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := serveClient.Get(base + "/v1/data/" + o.Type + "/" + url.PathEscape(typ.KeyString(pk)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("dataset object %s %s: %s", o.Type, typ.KeyString(pk), resp.Status)
			}
		})
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
}

// fakeModels is a cluster's model state for applyModel: a list of
// accepted digests, and a queue of errors its proposals fail with.
type fakeModels struct {
	mu       sync.Mutex
	st       live.ModelStatus
	fail     []error // the next proposals' errors, in turn
	proposed int
	// winner, when set, is accepted by the cluster as a proposal fails
	// (another instance's proposal of the same file won).
	winner string
}

func (f *fakeModels) Models(ctx context.Context) (live.ModelStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, nil
}

func (f *fakeModels) ProposeModel(ctx context.Context, source []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposed++
	if _, ok := ctx.Deadline(); !ok {
		return 0, fmt.Errorf("no deadline")
	}
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		if f.winner != "" {
			f.st.Revisions = append(f.st.Revisions, live.ModelRevision{Revision: len(f.st.Revisions) + 1, Digest: f.winner})
			f.winner = ""
		}
		return 0, err
	}
	m, err := model.Parse("m.yaml", source)
	if err != nil {
		return 0, err
	}
	f.st.Revisions = append(f.st.Revisions, live.ModelRevision{Revision: len(f.st.Revisions) + 1, Digest: m.Digest()})
	return len(f.st.Revisions), nil
}

func TestApplyModel(t *testing.T) {
	m, err := model.Parse("model.yaml", examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	want := wantModel{file: "model.yaml", source: examples.Model, digest: m.Digest()}
	fast := retryPolicy{attempts: 3, first: time.Millisecond, most: 2 * time.Millisecond, proposeWithin: time.Second}
	refused := func(reason string) error { return fmt.Errorf("%w: %s", live.ErrModelRefused, reason) }
	for _, tc := range []struct {
		name     string
		f        *fakeModels
		proposed int    // proposals made
		revs     int    // revisions at the end
		log      string // in the log
		errors   bool   // whether the log has errors
	}{
		{name: "accepted", f: &fakeModels{}, proposed: 1, revs: 1, log: `level=INFO msg="model: accepted" model=model.yaml digest=6045f30673ce05ee revision=1`},
		{name: "in force already", f: &fakeModels{st: live.ModelStatus{Revisions: []live.ModelRevision{{Revision: 4, Digest: m.Digest()}}}},
			proposed: 0, revs: 1, log: `msg="model: in force" model=model.yaml digest=6045f30673ce05ee revision=4`},
		{name: "undecided, then accepted", f: &fakeModels{fail: []error{live.ErrUnknownOutcome, fmt.Errorf("%w: no leader", live.ErrUnavailable)}},
			proposed: 3, revs: 1, log: `level=WARN msg="model: not applied yet, trying again"`},
		{name: "undecided every time", f: &fakeModels{fail: []error{live.ErrUnknownOutcome, live.ErrUnknownOutcome, live.ErrUnknownOutcome}},
			proposed: 3, revs: 0, log: `level=ERROR msg="model: not applied, giving up" model=model.yaml digest=6045f30673ce05ee attempts=3`, errors: true},
		{name: "another instance's proposal is being validated", f: &fakeModels{fail: []error{refused("model: revision 1 is still being validated")}},
			proposed: 2, revs: 1, log: `level=INFO msg="model: another change is being decided; waiting for it"`},
		{name: "another instance's proposal won", f: &fakeModels{fail: []error{refused("model: unchanged: revision 1 is this model")}, winner: m.Digest()},
			proposed: 1, revs: 1, log: `level=INFO msg="model: in force" model=model.yaml digest=6045f30673ce05ee revision=1`},
		{name: "refused", f: &fakeModels{st: live.ModelStatus{Revisions: []live.ModelRevision{{Revision: 1, Digest: "0000000000000001"}}},
			fail: []error{refused("model: not a successor of revision 1: types.X: the type is gone")}},
			proposed: 1, revs: 1, log: `level=ERROR msg="model: refused"`, errors: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			applyModel(context.Background(), tc.f, want, log, fast)
			got := buf.String()
			if tc.f.proposed != tc.proposed || len(tc.f.st.Revisions) != tc.revs || !strings.Contains(got, tc.log) || strings.Contains(got, "level=ERROR") != tc.errors {
				t.Errorf("%d proposals, %d revisions, log:\n%s\nwant %d proposals, %d revisions, a log with %q (errors: %t)",
					tc.f.proposed, len(tc.f.st.Revisions), got, tc.proposed, tc.revs, tc.log, tc.errors)
			}
		})
	}
	// It stops with the process.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeModels{fail: []error{live.ErrUnknownOutcome}}
	applyModel(ctx, f, want, slog.New(slog.DiscardHandler), retryPolicy{attempts: 100, first: time.Hour, most: time.Hour, proposeWithin: time.Second})
	if f.proposed > 1 {
		t.Errorf("a cancelled applyModel proposed %d times", f.proposed)
	}
}
