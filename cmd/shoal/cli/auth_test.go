package cli

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuthCLI runs an instance with authentication off and turns it on
// through the CLI: the first token (an admin's) is made without one;
// then a request without a token is refused (exit 3, 401), a reader's
// token reads but may not write (403), a custom role reads one type
// only, bench and status send --token, and a revoked token stops
// working.
func TestAuthCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	t.Setenv(apiTokenEnv, "")
	t.Setenv(tokenEnv, "")
	in := newCluster(t, 1, func(int) []string { return []string{"--model", exampleModel, "--pipeline", examplePipeline} })[0]
	in.start(t)
	addr := "http://" + in.http
	run := func(args ...string) (int, string, string) {
		t.Helper()
		return shoal(t, append(args, "--addr", addr)...)
	}
	want := func(what string, code int, stdout, stderr string, wantCode int, contains string) {
		t.Helper()
		got := stdout
		if wantCode != exitValid {
			got = stderr
		}
		if code != wantCode || !strings.Contains(got, contains) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want exit %d and %q", what, code, stdout, stderr, wantCode, contains)
		}
	}
	serveEventually(t, 60*time.Second, "a write without a token", func() error {
		if code, out, errs := run("kv", "put", "k", "v"); code != exitValid {
			return fmt.Errorf("exit %d %q %q", code, out, errs)
		}
		return nil
	})

	code, out, errs := run("token", "create", "ci", "--role", "writer")
	want("a first token that is not an admin's", code, out, errs, exitInvalid, "the first token must have the role admin")
	code, out, errs = run("token", "create", "ci")
	want("a token without a role", code, out, errs, exitUsage, "--role: a token needs a role")
	code, root, errs := run("token", "create", "root", "--role", "admin")
	want("the first token", code, root, errs, exitValid, "shoal_api_")
	root = strings.TrimSpace(root)
	if !strings.Contains(errs, "shown only") {
		t.Errorf("token create does not say the token is shown only once: %q", errs)
	}

	code, out, errs = run("kv", "get", "k")
	want("a read without a token", code, out, errs, exitUsage, "401 Unauthorized: this cluster takes only requests with an API token")
	if !strings.Contains(errs, "(--token, or env SHOAL_TOKEN)") {
		t.Errorf("a 401 does not say where a token goes: %q", errs)
	}
	code, out, errs = run("status")
	want("status without a token", code, out, errs, exitUsage, "401")
	code, out, errs = run("kv", "get", "k", "--token", root)
	want("a read with the admin token", code, out, errs, exitValid, "v")

	code, reader, errs := run("token", "create", "ro", "--role", "reader", "--token", root)
	want("a reader's token", code, reader, errs, exitValid, "shoal_api_")
	reader = strings.TrimSpace(reader)
	code, out, errs = run("kv", "put", "k", "w", "--token", reader)
	want("a write with a reader's token", code, out, errs, exitUsage, "403 Forbidden: token ro has the role reader, which may not write kv")
	t.Setenv(apiTokenEnv, reader)
	code, out, errs = run("kv", "get", "k")
	want("a read with a reader's token from the environment", code, out, errs, exitValid, "v")
	code, out, errs = run("status")
	want("status with a reader's token", code, out, errs, exitValid, "rs1")
	code, out, errs = run("token", "list")
	want("token list with a reader's token", code, out, errs, exitUsage, "may not administer the cluster")
	t.Setenv(apiTokenEnv, "")

	code, out, errs = run("role", "set", "customers", "--read", "Customer", "--token", root)
	want("a custom role", code, out, errs, exitValid, "role customers: read Customer; write -")
	code, out, errs = run("role", "set", "bad", "--write", "cluster", "--token", root)
	want("a role that writes the cluster", code, out, errs, exitUsage, "cluster can only be read")
	code, out, errs = run("role", "set", "names", "--read", "Customer,-Customer.email", "--write", "Customer.tier", "--token", root)
	want("a role on fields", code, out, errs, exitValid, "role names: read Customer,-Customer.email; write Customer.tier")
	code, out, errs = run("role", "set", "bad", "--read", "-Customer.email", "--token", root)
	want("a field withheld from a type not granted", code, out, errs, exitUsage, `"-Customer.email" withholds a field of Customer, which the list does not grant whole`)
	code, custom, errs := run("token", "create", "crm-reader", "--role", "customers", "--token", root)
	want("a token of the custom role", code, custom, errs, exitValid, "shoal_api_")
	custom = strings.TrimSpace(custom)
	code, out, errs = run("role", "list", "--token", root)
	want("role list", code, out, errs, exitValid, "customers  Customer")
	code, out, errs = run("role", "delete", "customers", "--token", root)
	want("deleting a role in use", code, out, errs, exitInvalid, "role customers is the role of 1 tokens (crm-reader)")

	for _, tc := range []struct {
		token, path string
		status      int
	}{
		{custom, "/v1/data/Customer/c1", http.StatusNotFound}, // let in: no such object
		{custom, "/v1/kv/k", http.StatusForbidden},
		{"", "/v1/data/Customer/c1", http.StatusUnauthorized},
		{"", "/v1/no/such/route", http.StatusUnauthorized},
		{custom, "/v1/no/such/route", http.StatusNotFound},
		{"", "/healthz", http.StatusOK},
		{"", "/metrics", http.StatusUnauthorized},
		{reader, "/metrics", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, addr+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := serveClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s (token %v): %d, want %d", tc.path, tc.token != "", resp.StatusCode, tc.status)
		}
	}

	// bench sends --token with every request.
	benchArgs := []string{"bench", "--mix", "mixed", "--clients", "2", "--keys", "10", "--duration", "300ms", "--warmup", "0s", "--json"}
	code, out, errs = run(append(benchArgs, "--token", root)...)
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitValid || err != nil || rep.OK == 0 || rep.Errors != 0 {
		t.Errorf("bench --token: exit %d, %+v, %q", code, rep, errs)
	}
	code, out, errs = run(benchArgs...)
	if code != exitInternal || !strings.Contains(errs, "HTTP 401") {
		t.Errorf("bench without a token: exit %d %q %q; want exit 4 and its writes refused with 401", code, out, errs)
	}

	code, out, errs = run("token", "list", "--token", root)
	want("token list", code, out, errs, exitValid, "ro")
	if strings.Contains(out, root) || strings.Contains(out, reader) || strings.Contains(out, tokenDigest(reader)) {
		t.Errorf("token list shows a token or a digest:\n%s", out)
	}
	code, out, errs = run("token", "revoke", "ro", "--token", root)
	want("revoking the reader's token", code, out, errs, exitValid, "revoked token ro")
	code, out, errs = run("kv", "get", "k", "--token", reader)
	want("a revoked token", code, out, errs, exitUsage, "401 Unauthorized: the token is not one of this cluster's API tokens")
	code, out, errs = run("token", "revoke", "ro", "--token", root)
	want("revoking it again", code, out, errs, exitInvalid, `no token has the id or name "ro"`)
	code, out, errs = run("token", "revoke", "root", "--token", root)
	want("revoking the last admin token while others remain", code, out, errs, exitInvalid, "root is the last admin token")
}

// TestServeHTTPTLS serves the API over HTTPS with a certificate a test CA
// signed, with authentication on from the start (--auth): the CLI
// reaches it with --addr https://... and --ca, makes the first token
// without one, and needs it from then on. Without the CA the client
// refuses the certificate; plain HTTP gets no answer from the API.
func TestServeHTTPTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	t.Setenv(apiTokenEnv, "")
	t.Setenv(caEnv, "")
	pki := t.TempDir()
	writePKI(t, pki, "api")
	ca := filepath.Join(pki, "ca.pem")
	in := newCluster(t, 1, func(int) []string {
		return []string{"--http-tls-cert", filepath.Join(pki, "api.pem"), "--http-tls-key", filepath.Join(pki, "api-key.pem"), "--auth"}
	})[0]
	in.start(t)
	addr := "https://" + in.http
	serveEventually(t, 60*time.Second, "the API over HTTPS", func() error {
		code, out, errs := shoal(t, "kv", "get", "k", "--addr", addr, "--ca", ca)
		if code != exitUsage || !strings.Contains(errs, "401") {
			return fmt.Errorf("exit %d %q %q, want 3 and a 401 (authentication is on from the start)", code, out, errs)
		}
		return nil
	})
	code, out, errs := shoal(t, "kv", "get", "k", "--addr", addr)
	if code == exitValid || !strings.Contains(errs, "certificate") {
		t.Errorf("without --ca: exit %d %q %q, want the certificate refused", code, out, errs)
	}
	code, root, errs := shoal(t, "token", "create", "root", "--role", "admin", "--addr", addr, "--ca", ca)
	if code != exitValid || !strings.HasPrefix(root, "shoal_api_") {
		t.Fatalf("the first token, over HTTPS: exit %d %q %q", code, root, errs)
	}
	root = strings.TrimSpace(root)
	t.Setenv(caEnv, ca)
	code, out, errs = shoal(t, "token", "create", "second", "--role", "admin", "--addr", addr)
	if code != exitUsage || !strings.Contains(errs, "401") {
		t.Errorf("a second token without one: exit %d %q %q, want 3 and a 401", code, out, errs)
	}
	if code, out, errs := shoal(t, "kv", "put", "k", "v", "--addr", addr, "--token", root); code != exitValid {
		t.Errorf("a write over HTTPS, the CA from the environment: exit %d %q %q", code, out, errs)
	}
	if code, out, errs := shoal(t, "kv", "get", "k", "--addr", addr, "--token", root); code != exitValid || strings.TrimSpace(out) != "v" {
		t.Errorf("a read over HTTPS: exit %d %q %q", code, out, errs)
	}
	// Plain HTTP on the HTTPS port: the server answers with a TLS error
	// page, never the API.
	resp, err := serveClient.Get("http://" + in.http + "/healthz")
	if err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on the HTTPS port was answered 200")
		}
		resp.Body.Close()
	}
	// And HTTPS by a client that trusts the CA: /healthz is open.
	pool, _ := trustCA(ca)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: pool.Clone()}}
	resp, err = hc.Get(addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET /healthz over HTTPS: %v %+v", err, resp)
	}
	if resp != nil {
		resp.Body.Close()
	}
}
