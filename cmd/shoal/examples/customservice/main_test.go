package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBinaryServes builds the example as a user would, starts its
// `serve --dev` (the example model), writes a customer and orders
// through REST, and calls both services through REST and GraphQL.
func TestBinaryServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and starts it")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to build the example: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "myshoal")
	if out, err := exec.Command(goCmd, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--dev")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`key-value API\s+(http://\S+)/v1/kv/\{key\}`).FindStringSubmatch(sc.Text()); m != nil {
				base <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-base:
	case <-time.After(60 * time.Second):
		t.Fatal("myshoal serve --dev printed no URL within 60s")
	}
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	// The instance applies the example model a moment after it starts:
	// wait for it, within a bound.
	for deadline := time.Now().Add(60 * time.Second); ; {
		if status, _ := call("GET", "/v1/model", ""); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the example model was not in force within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	addr := `"shipping_address":{"street":"Main 1","city":"Delft","zip":"2611AA"}`
	for _, w := range []struct{ typ, body string }{
		{"Customer", `{"id":"c1","first_name":"Grace","last_name":"Hopper","email":null,"created":"2024-01-02T03:04:05Z","tier":"gold","newsletter":true}`},
		{"Order", `{"id":"o1","customer_id":"c1","placed":"2024-02-01T00:00:00Z","status":"open","lines":[],"total":"19.90",` + addr + `}`},
		{"Order", `{"id":"o2","customer_id":"c1","placed":"2024-02-02T00:00:00Z","status":"shipped","lines":[],"total":"5.15",` + addr + `}`},
	} {
		if status, body := call("PUT", "/v1/data/"+w.typ, w.body); status != 200 {
			t.Fatalf("PUT /v1/data/%s: %d %s", w.typ, status, body)
		}
	}

	if status, body := call("POST", "/v1/services/customerSummary", `{"id": "c1"}`); status != 200 ||
		body != `{"result":{"customer":"c1","name":"Grace Hopper","orders":2,"total":"25.05"}}` {
		t.Errorf("POST /v1/services/customerSummary: %d %s", status, body)
	}
	if status, body := call("GET", "/v1/services/customerSummary?id=c9", ""); status != 404 ||
		body != `{"error":"service customerSummary: customer \"c9\" does not exist","code":"not_found"}` {
		t.Errorf("GET /v1/services/customerSummary?id=c9: %d %s", status, body)
	}
	status, body := call("POST", "/v1/graphql", `{"query": "{ customerSummary(id: \"c1\") Order(customer_id: \"c1\", id: \"o1\") { _revision } }"}`)
	var read struct {
		Data struct {
			Summary map[string]any `json:"customerSummary"`
			Order   struct {
				Revision int64 `json:"_revision"`
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &read); status != 200 || err != nil || read.Data.Summary["total"] != "25.05" || read.Data.Order.Revision == 0 {
		t.Fatalf("GraphQL customerSummary: %d %s", status, body)
	}
	rev := read.Data.Order.Revision
	gql, _ := json.Marshal(map[string]any{
		"query":     `mutation($rev: Int64) { cancelOrder(customer_id: "c1", id: "o1", ifRevision: $rev) { id status customer { last_name } } }`,
		"variables": map[string]any{"rev": rev},
	})
	if status, body := call("POST", "/v1/graphql", string(gql)); status != 200 ||
		body != `{"data":{"cancelOrder":{"id":"o1","status":"cancelled","customer":{"last_name":"Hopper"}}}}` {
		t.Errorf("GraphQL cancelOrder: %d %s", status, body)
	}
	if status, body := call("POST", "/v1/services/cancelOrder", `{"customer_id": "c1", "id": "o1"}`); status != 422 ||
		body != `{"error":"service cancelOrder: order o1 is cancelled: only an open or paid order can be cancelled","code":"refused"}` {
		t.Errorf("POST /v1/services/cancelOrder of a cancelled order: %d %s", status, body)
	}
	if status, body := call("GET", "/v1/services", ""); status != 200 || !bytes.Contains([]byte(body), []byte(`"name":"cancelOrder"`)) {
		t.Errorf("GET /v1/services: %d %s", status, body)
	}
}

func TestSum(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, "0"},
		{[]string{"19.9", "5.15"}, "25.05"},
		{[]string{"0.1", "0.2", "-0.3"}, "0"},
		{[]string{"12345678901234567890.5", "1"}, "12345678901234567891.5"},
	} {
		if got, err := sum(c.in); err != nil || got != c.want {
			t.Errorf("sum(%v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	if _, err := sum([]string{"x"}); err == nil {
		t.Error("sum of a non-decimal")
	}
}
