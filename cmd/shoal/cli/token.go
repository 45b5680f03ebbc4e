package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoaldb/shoal/core/live"
)

// apiTokenEnv holds the API token of every command that talks to the
// API when --token is not given; caEnv the CA file of --ca.
const (
	apiTokenEnv = "SHOAL_TOKEN"
	caEnv       = "SHOAL_CA"
)

const (
	apiTokenUsage = "the API `token` to send, as Authorization: Bearer TOKEN, to a cluster with authentication on (shoal token create makes one; default: env " + apiTokenEnv + ")"
	caUsage       = "a CA certificate `file` (PEM) to trust for https:// addresses, besides the system's (env " + caEnv + ")"
)

// trustCA is the TLS configuration of a client that trusts the CA in
// file besides the system's roots; nil (the defaults) for no file.
func trustCA(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, usagef("--ca: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("--ca: %s holds no PEM certificate", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// accessCommand is one token or role subcommand: its name, positional
// arguments and what it sends.
type accessCommand struct {
	name  string
	args  string // for the usage line; its words are the positional arguments
	about string
	// flags adds the command's own flags and returns their usage.
	flags   func(fs *flag.FlagSet) string
	request func(pos []string) (method, path string, body []byte, err error)
	// print prints a success's body (not under --json).
	print func(stdout, stderr io.Writer, body []byte) error
}

// runAccess runs a token or role subcommand: exit 0 when done, 1 when
// refused (the cluster said why) or the token or role does not exist, 2
// when the outcome is unknown, 3 for bad input and a token missing or
// not allowed, 4 for other errors.
func runAccess(ac accessCommand, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal "+ac.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	usage := ""
	if ac.flags != nil {
		usage = ac.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shoal %s%s%s [--addr ADDRS] [--token TOKEN] [--json]\n\n%s\n\n", ac.name, prefixSpace(ac.args), usage, ac.about)
		fs.PrintDefaults()
	}
	pos, done, code, err := parseClientArgs(fs, args)
	if done {
		return code, err
	}
	if err := wantArgs(pos, strings.Fields(ac.args)...); err != nil {
		return exitUsage, err
	}
	method, path, body, err := ac.request(pos)
	if err != nil {
		return exitUsage, err
	}
	c, err := cf.client()
	if err != nil {
		return exitUsage, err
	}
	reply, err := c.do(method, path, body, method == http.MethodGet)
	if err != nil {
		return unanswered(err)
	}
	switch reply.status {
	case http.StatusOK, http.StatusCreated:
		if cf.json {
			reply.printJSON(stdout)
			return exitValid, nil
		}
		if err := ac.print(stdout, stderr, reply.body); err != nil {
			return exitInternal, fmt.Errorf("%s: the answer is not the API's JSON: %v", reply.addr, err)
		}
		return exitValid, nil
	case http.StatusUnprocessableEntity, http.StatusNotFound:
		if cf.json {
			reply.printJSON(stdout)
		}
		return exitInvalid, errors.New(reply.message())
	}
	if cf.json {
		reply.printJSON(stdout)
	}
	return reply.failure()
}

func prefixSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

func runTokenCreate(args []string, stdout, stderr io.Writer) (int, error) {
	var role *string
	return runAccess(accessCommand{name: "token create", args: "NAME",
		about: "Makes an API token named NAME with a role (admin, writer, reader, or one of shoal role list) and\n" +
			"prints it: the cluster keeps only its SHA-256 digest, so it is shown this once. Clients send it\n" +
			"with --token or env " + apiTokenEnv + " (the HTTP API: Authorization: Bearer TOKEN).\n\n" +
			"Authentication is off until a cluster's first token exists (or serve --auth turned it on):\n" +
			"that token is made without one, and must be an admin's, or nobody could manage tokens. From\n" +
			"then on every request needs a token, and making tokens takes an admin's.",
		flags: func(fs *flag.FlagSet) string {
			role = fs.String("role", "", "the token's `role` (required): admin, writer, reader or a custom role")
			return " --role ROLE"
		},
		request: func(pos []string) (string, string, []byte, error) {
			if *role == "" {
				return "", "", nil, usagef("--role: a token needs a role (admin, writer, reader, or one of shoal role list)")
			}
			body, _ := json.Marshal(map[string]string{"name": pos[0], "role": *role})
			return http.MethodPost, "/v1/tokens", body, nil
		},
		print: func(stdout, stderr io.Writer, body []byte) error {
			var t live.NewTokenBody
			if err := json.Unmarshal(body, &t); err != nil {
				return err
			}
			fmt.Fprintln(stdout, t.Token)
			fmt.Fprintf(stderr, "shoal token create: made token %s (id %s, role %s). The line above is the token, shown only\n", t.Name, t.ID, t.Role)
			fmt.Fprintf(stderr, "now: keep it, and send it with --token or env %s. Authentication is on from now on.\n", apiTokenEnv)
			return nil
		},
	}, args, stdout, stderr)
}

func runTokenList(args []string, stdout, stderr io.Writer) (int, error) {
	return runAccess(accessCommand{name: "token list",
		about: "Lists the cluster's API tokens: id, name, role and when each was made (never the tokens\n" +
			"themselves, nor their digests). Needs an admin token.",
		request: func([]string) (string, string, []byte, error) { return http.MethodGet, "/v1/tokens", nil, nil },
		print: func(stdout, _ io.Writer, body []byte) error {
			var tokens []live.TokenBody
			if err := json.Unmarshal(body, &tokens); err != nil {
				return err
			}
			if len(tokens) == 0 {
				fmt.Fprintln(stdout, "no tokens: authentication is off, unless the cluster's setting auth.required is true")
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED")
			for _, t := range tokens {
				created := "-"
				if !t.Created.IsZero() {
					created = t.Created.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, created)
			}
			return tw.Flush()
		},
	}, args, stdout, stderr)
}

func runTokenRevoke(args []string, stdout, stderr io.Writer) (int, error) {
	return runAccess(accessCommand{name: "token revoke", args: "ID|NAME",
		about: "Revokes an API token, named by its id or its name: every instance refuses it once it has\n" +
			"applied the change. The last admin token goes only with the last token. Exits 1 when no\n" +
			"token has that id or name, or the cluster refuses.",
		request: func(pos []string) (string, string, []byte, error) {
			return http.MethodDelete, "/v1/tokens/" + url.PathEscape(pos[0]), nil, nil
		},
		print: func(stdout, _ io.Writer, body []byte) error {
			var res struct{ Revoked live.TokenBody }
			if err := json.Unmarshal(body, &res); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked token %s (id %s, role %s)\n", res.Revoked.Name, res.Revoked.ID, res.Revoked.Role)
			return nil
		},
	}, args, stdout, stderr)
}
