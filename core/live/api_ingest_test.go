package live

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// The tokens of tokenPipeline's crm connector: t1 and t2 (rotated in)
// are listed by their digests; t3 is not.
const (
	token1 = "shoal_ingest_0d8c3a7e5f1b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d"
	token2 = "second-token_~+/with.all.token68.characters=="
	token3 = "shoal_ingest_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
)

func digestOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tokenPipeline is the example pipeline with its connectors declared:
// crm takes tokens 1 and 2 and bodies of at most 128 bytes, shop takes
// any request; more are further inbound connectors.
func tokenPipeline(more ...string) string {
	return string(examples.Pipeline) + "connectors:\n  inbound:\n" +
		"    crm: {type: http, max_body: 128, max_items: 2, token_sha256: [" + digestOf(token1) + ", \"" + digestOf(token2) + "\"]}\n" +
		"    shop: {type: http, max_body: 128}\n" + strings.Join(more, "") +
		"  outbound:\n    billing: {type: webhook, url: \"http://b.example/\"}\n    warehouse: {type: webhook, url: \"http://w.example/\"}\n    test-sink: {type: webhook, url: \"http://t.example/\"}\n"
}

// waitingIDs are the ids of the messages waiting in rs1's inbound queue.
func waitingIDs(f *fakeQueues) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, _ := f.queue("rs1")
	var ids []string
	for _, m := range q.waiting {
		ids = append(ids, m.Message.ID)
	}
	return ids
}

// TestIngestTokens sends requests with and without tokens to a connector
// that declares token_sha256 and to one that does not, through one
// backend, then reads its queue back: only the requests let in enqueued
// anything. The token is checked before the id, the Content-Type and the
// body.
func TestIngestTokens(t *testing.T) {
	const (
		order         = `{"kind":"order","order_no":"o1"}`
		challenge     = `Bearer realm="shoal-ingest"`
		noToken       = `{"error":"connector crm takes only requests with a token: send Authorization: Bearer TOKEN"}`
		notBearer     = `{"error":"header Authorization: want Bearer TOKEN (the Bearer scheme, a space, the token)"}`
		noBearerToken = `{"error":"header Authorization: no token after Bearer"}`
		refused       = `{"error":"connector crm does not take this token: its token_sha256 lists the SHA-256 digest of every token it takes"}`
	)
	f := newFakeQueues()
	f.pipeline = PipelineStatus{Revision: 7, Source: tokenPipeline()}
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	bearer := func(token string) []string { return []string{"Bearer " + token} }
	tests := []struct {
		name        string
		connector   string
		id          string
		auth        []string // Authorization headers
		contentType string
		body        string
		status      int
		want        string
		enqueued    []string // the ids it enqueued
	}{
		{name: "no header", connector: "crm", id: "m1", body: order, status: 401, want: noToken},
		{name: "an empty header", connector: "crm", id: "m2", auth: []string{""}, body: order, status: 401, want: notBearer},
		{name: "basic", connector: "crm", id: "m3", auth: []string{"Basic dDE6cHc="}, body: order, status: 401, want: notBearer},
		{name: "the token without a scheme", connector: "crm", id: "m4", auth: []string{token1}, body: order, status: 401, want: notBearer},
		{name: "the scheme without a token", connector: "crm", id: "m5", auth: []string{"Bearer"}, body: order, status: 401, want: noBearerToken},
		{name: "the scheme and spaces", connector: "crm", id: "m6", auth: []string{"Bearer   "}, body: order, status: 401, want: noBearerToken},
		{name: "a token of two words", connector: "crm", id: "m7", auth: bearer(token1 + " x"), body: order, status: 401,
			want: `{"error":"header Authorization: the token is not one word of letters, digits and -._~+/ (token68)"}`},
		{name: "a token too long", connector: "crm", id: "m8", auth: bearer(strings.Repeat("a", MaxTokenLen+1)), body: order, status: 401,
			want: `{"error":"header Authorization: a token of 1025 bytes, at most 1024"}`},
		{name: "two headers", connector: "crm", id: "m9", auth: []string{"Bearer " + token1, "Bearer " + token2}, body: order, status: 401,
			want: `{"error":"header Authorization: sent 2 times, want once: Bearer TOKEN"}`},
		{name: "a wrong token", connector: "crm", id: "m10", auth: bearer(token3), body: order, status: 403, want: refused},
		{name: "a token's digest", connector: "crm", id: "m11", auth: bearer(digestOf(token1)), body: order, status: 403, want: refused},
		{name: "a token with a character more", connector: "crm", id: "m12", auth: bearer(token1 + "0"), body: order, status: 403, want: refused},
		{name: "the right token", connector: "crm", id: "ok1", auth: bearer(token1), body: order,
			status: 202, want: `{"id":"ok1","replicaset":"rs1","position":1}`, enqueued: []string{"ok1"}},
		{name: "the second of two rotated tokens", connector: "crm", id: "ok2", auth: bearer(token2), body: order,
			status: 202, want: `{"id":"ok2","replicaset":"rs1","position":2}`, enqueued: []string{"ok2"}},
		{name: "the scheme in another case, spaces after it", connector: "crm", id: "ok3", auth: []string{"bEARER  " + token1}, body: order,
			status: 202, want: `{"id":"ok3","replicaset":"rs1","position":3}`, enqueued: []string{"ok3"}},
		{name: "a batch with the right token", connector: "crm", id: "ok4", auth: bearer(token2), contentType: "application/x-ndjson", body: "{}\n{}\n",
			status: 202, want: `{"enqueued":2,"items":[{"line":1,"id":"ok4/1","replicaset":"rs1","position":4},{"line":2,"id":"ok4/2","replicaset":"rs1","position":5}]}`,
			enqueued: []string{"ok4/1", "ok4/2"}},

		// The token first: neither the id, nor the Content-Type, nor the
		// body's size says anything to a client without one.
		{name: "no token, no id", connector: "crm", body: order, status: 401, want: noToken},
		{name: "no token, over max_body", connector: "crm", id: "m13", body: `{"n":"` + strings.Repeat("x", 200) + `"}`, status: 401, want: noToken},
		{name: "no token, over max_items", connector: "crm", id: "m14", contentType: "application/x-ndjson", body: "{}\n{}\n{}\n", status: 401, want: noToken},
		{name: "no token, XML", connector: "crm", id: "m15", contentType: "application/xml", body: "<order/>", status: 401, want: noToken},
		{name: "a wrong token, over max_body", connector: "crm", id: "m16", auth: bearer(token3), body: `{"n":"` + strings.Repeat("x", 200) + `"}`, status: 403, want: refused},
		{name: "the right token, over max_body", connector: "crm", id: "m17", auth: bearer(token1), body: `{"n":"` + strings.Repeat("x", 200) + `"}`,
			status: 413, want: `{"error":"a message of 208 bytes: connector crm takes at most 128 (max_body)"}`},

		// A connector without token_sha256 asks for none, and ignores one.
		{name: "no token where none is asked for", connector: "shop", id: "ok5", body: order,
			status: 202, want: `{"id":"ok5","replicaset":"rs1","position":6}`, enqueued: []string{"ok5"}},
		{name: "a token where none is asked for", connector: "shop", id: "ok6", auth: bearer(token3), body: order,
			status: 202, want: `{"id":"ok6","replicaset":"rs1","position":7}`, enqueued: []string{"ok6"}},
		{name: "a malformed header where none is asked for", connector: "shop", id: "ok7", auth: []string{"Basic", "x y z"}, body: order,
			status: 202, want: `{"id":"ok7","replicaset":"rs1","position":8}`, enqueued: []string{"ok7"}},
		{name: "an undeclared connector", connector: "web", id: "m18", auth: bearer(token1), body: order,
			status: 404, want: `{"error":"no inbound connector \"web\": the pipeline declares these http and shoal connectors: crm, shop"}`},
	}
	var enqueued []string
	for _, tc := range tests {
		req, err := http.NewRequest("POST", srv.URL+"/v1/ingest/"+tc.connector, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.id != "" {
			req.Header.Set(HeaderMessageID, tc.id)
		}
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		req.Header["Authorization"] = tc.auth
		before := len(f.queueSent())
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := withoutCode(t, resp.StatusCode, strings.TrimSuffix(string(b), "\n"))
		if resp.StatusCode != tc.status || got != tc.want {
			t.Errorf("%s: got %d %s\nwant %d %s", tc.name, resp.StatusCode, got, tc.status, tc.want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q, want application/json", tc.name, ct)
		}
		wantChallenge := ""
		if tc.status == 401 {
			wantChallenge = challenge
		}
		if got := resp.Header.Values("WWW-Authenticate"); strings.Join(got, "|") != wantChallenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tc.name, got, wantChallenge)
		}
		if sent := f.queueSent()[before:]; tc.status != 202 && len(sent) != 0 {
			t.Errorf("%s: %d, and the backend got %s", tc.name, tc.status, describeSent(sent))
		}
		enqueued = append(enqueued, tc.enqueued...)
	}
	if got := waitingIDs(f); !slices.Equal(got, enqueued) {
		t.Errorf("the queue holds %q, want %q: what the authorized requests sent, nothing else", got, enqueued)
	}
	a := callWith(t, srv, "GET", "/v1/queue", nil, "")
	if want := fmt.Sprintf(`"depth":%d,`, len(enqueued)); a.status != 200 || !strings.Contains(a.body, want) {
		t.Errorf("GET /v1/queue: %d %s, want %s", a.status, a.body, want)
	}
}

// countingReader counts what is read of a request's body.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestIngestTokensReadNoBody: a request refused for its token is answered
// without a byte of its body read.
func TestIngestTokensReadNoBody(t *testing.T) {
	f := newFakeQueues()
	f.pipeline = PipelineStatus{Revision: 1, Source: tokenPipeline()}
	h := NewAPI(f, APIOptions{Logger: quiet})
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Basic x", 401}, {"Bearer " + token3, 403}, {"Bearer " + token1, 202}} {
		body := &countingReader{r: strings.NewReader(`{"kind":"order"}`)}
		req := httptest.NewRequest("POST", "/v1/ingest/crm", body)
		req.Header.Set(HeaderMessageID, "m1")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("Authorization %q: %d %s, want %d", tc.auth, rec.Code, rec.Body, tc.status)
		}
		if read := body.n > 0; read != (tc.status == 202) {
			t.Errorf("Authorization %q: %d, and %d bytes of the body read", tc.auth, rec.Code, body.n)
		}
	}
}

// TestIngestUnreadablePipeline: an instance that cannot read the pipeline
// in force (written for a newer shoal, say) does not know which
// connectors ask for a token, so it takes no message: 503, to be sent to
// another instance.
func TestIngestUnreadablePipeline(t *testing.T) {
	f := newFakeQueues()
	f.pipeline = PipelineStatus{Revision: 9, Source: tokenPipeline("    crm2: {type: http, token_sha256: [not-a-digest], scopes: [ingest]}\n")}
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	for _, connector := range []string{"crm", "shop", "crm2"} {
		a := callWith(t, srv, "POST", "/v1/ingest/"+connector, map[string]string{HeaderMessageID: "m1", "Authorization": "Bearer " + token1}, `{}`)
		want := `{"error":"unavailable, nothing was done: this instance cannot read the pipeline in force (revision 9), so it does not know connector ` +
			connector + `'s limits and tokens; another instance may"}`
		if a.status != 503 || a.body != want || a.header.Get("Retry-After") != "1" {
			t.Errorf("%s: %d %s (Retry-After %q), want 503 %s", connector, a.status, a.body, a.header.Get("Retry-After"), want)
		}
	}
	if sent := f.queueSent(); len(sent) != 0 {
		t.Errorf("the backend got %s", describeSent(sent))
	}
}

// FuzzIngestAuthorization: whatever the Authorization headers, POST
// /v1/ingest answers in JSON and never panics; a connector with tokens
// lets in exactly the requests with one Bearer header holding one of
// them, answers 401 with the challenge or 403 otherwise, and enqueues
// nothing then; a connector without tokens lets every request in.
func FuzzIngestAuthorization(f *testing.F) {
	for _, s := range []struct{ auth, second string }{
		{"", ""}, {"Bearer " + token1, ""}, {"Bearer " + token2, ""}, {"bearer " + token1, ""}, {"Bearer  " + token1, ""},
		{"Bearer " + token3, ""}, {"Bearer", ""}, {"Bearer ", ""}, {"Basic dDE6cHc=", ""}, {token1, ""},
		{"Bearer " + token1, "Bearer " + token1}, {"Bearer " + token1 + " ", ""}, {"Bearer\t" + token1, ""},
		{"Bearer " + token1 + "\x00", ""}, {"Bearer \xff\xfe", ""}, {"Bearer ====", ""}, {"Bearer a=b", ""},
		{"Bearer " + strings.Repeat("a", MaxTokenLen), ""}, {"Bearer " + strings.Repeat("a", MaxTokenLen+1), ""},
		{"Bearer " + digestOf(token1), ""}, {"Bearer " + strings.ToUpper(token1), ""},
	} {
		f.Add(s.auth, s.second, false)
		f.Add(s.auth, s.second, true)
	}
	fq := newFakeQueues()
	fq.pipeline = PipelineStatus{Revision: 1, Source: tokenPipeline()}
	h := NewAPI(fq, APIOptions{Logger: quiet})
	f.Fuzz(func(t *testing.T, auth, second string, open bool) {
		fq.mu.Lock()
		fq.queues, fq.sent = map[string]*fakeQueue{}, nil
		fq.mu.Unlock()
		connector := "crm"
		if open {
			connector = "shop"
		}
		req := httptest.NewRequest("POST", "/", bytes.NewReader([]byte(`{"kind":"order"}`)))
		req.URL = &url.URL{Path: "/v1/ingest/" + connector}
		req.RequestURI = req.URL.RequestURI()
		req.Header.Set(HeaderMessageID, "m1")
		var values []string
		if auth != "" || second != "" {
			values = append(values, auth)
		}
		if second != "" {
			values = append(values, second)
		}
		req.Header["Authorization"] = values
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		what := fmt.Sprintf("POST /v1/ingest/%s with Authorization %q", connector, values)
		checkAnswer(t, what, rec)
		sent := fq.queueSent()
		challenge := rec.Header().Get("WWW-Authenticate")
		switch rec.Code {
		case 202:
			if len(sent) != 1 {
				t.Fatalf("%s: 202, and the backend got %s", what, describeSent(sent))
			}
		case 401, 403:
			if len(sent) != 0 {
				t.Fatalf("%s: %d, and the backend got %s", what, rec.Code, describeSent(sent))
			}
			if (rec.Code == 401) != (challenge == `Bearer realm="shoal-ingest"`) {
				t.Fatalf("%s: %d with WWW-Authenticate %q", what, rec.Code, challenge)
			}
		default:
			t.Fatalf("%s: %d %s, want 202, 401 or 403", what, rec.Code, rec.Body)
		}
		if open {
			if rec.Code != 202 {
				t.Fatalf("%s: %d %s from a connector that asks for no token", what, rec.Code, rec.Body)
			}
			return
		}
		scheme, token, _ := strings.Cut(auth, " ")
		token = strings.TrimLeft(token, " ")
		good := len(values) == 1 && strings.EqualFold(scheme, "Bearer") && (token == token1 || token == token2)
		if good != (rec.Code == 202) {
			t.Fatalf("%s: %d %s; one of the tokens: %v", what, rec.Code, rec.Body, good)
		}
		if len(sent) == 1 && slices.ContainsFunc(sent[0].Message.Headers, func(h kv.Header) bool { return strings.EqualFold(h.Name, "Authorization") }) {
			t.Fatalf("%s: the message carries the token", what)
		}
	})
}

// TestIngestChanges: a connector of type shoal takes changes other
// clusters replicate, one a request, each routed by the route in the
// change whatever its bytes (no header could carry them all), with the
// limits and tokens of an http connector; what is not a change is
// refused with the reason, and nothing is enqueued.
func TestIngestChanges(t *testing.T) {
	f := newFakeQueues()
	f.pipeline = PipelineStatus{Revision: 3, Source: tokenPipeline("    from-dc1: {type: shoal, from: [dc1], token_sha256: " + digestOf(token1) + "}\n")}
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	change := kv.Change{Type: "Customer", PK: "c1", Route: " a\n\x00\xff", Version: 2, Value: []byte(`{"id":"c1"}`), Time: 5, Origin: "dc1"}
	for _, tc := range []struct {
		name, contentType, body, auth string
		status                        int
		want                          string
	}{
		{name: "a change", body: string(change.Encode()), auth: token1, status: 202},
		{name: "no token", body: string(change.Encode()), status: 401},
		{name: "not a change", body: `{"kind":"order"}`, auth: token1, status: 400, want: `unknown field \"kind\"`},
		{name: "a batch", contentType: "application/x-ndjson", body: string(change.Encode()) + "\n", auth: token1, status: 415, want: "one change a request"},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/ingest/from-dc1", strings.NewReader(tc.body))
		req.Header.Set(HeaderMessageID, "dc1/rs1-"+tc.name)
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		if tc.auth != "" {
			req.Header.Set("Authorization", "Bearer "+tc.auth)
		}
		before := len(f.queueSent())
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, resp.StatusCode, b, tc.status, tc.want)
		}
		sent := f.queueSent()[before:]
		switch {
		case tc.status == 202 && (len(sent) != 1 || sent[0].Key != change.Route || sent[0].Message.Connector != "from-dc1"):
			t.Errorf("%s: the backend got %s, want one enqueue routed by %q", tc.name, describeSent(sent), change.Route)
		case tc.status != 202 && len(sent) != 0:
			t.Errorf("%s: %d, and the backend got %s", tc.name, tc.status, describeSent(sent))
		}
	}
}
