package cli

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/live"
)

// tokenEnv holds the bearer token of shoal ingest and shoal bench --mix
// ingest when --token is not given (then SHOAL_TOKEN does: an API token
// whose role may ingest is taken by every connector). The environment
// keeps it out of the process list and the shell's history, where a
// flag's value shows.
const tokenEnv = "SHOAL_INGEST_TOKEN"

// tokenFlagUsage is the help of shoal ingest's --token.
const tokenFlagUsage = "the bearer `token`: an http connector's own (one that declares token_sha256), or an API token whose role may ingest (default: env " + tokenEnv + ", else env " + apiTokenEnv + ")"

// ingestToken is the bearer token a message is sent with: --token's
// value when the flag was given (value), else the environment's
// (SHOAL_INGEST_TOKEN, else SHOAL_TOKEN), else none.
func ingestToken(fs *flag.FlagSet, value string) (string, error) {
	return bearerToken(fs, value, tokenEnv, apiTokenEnv)
}

// bearerToken is the token to send: --token's value when the flag was
// given (value), else the first of the environment variables envs that
// is set, else none. A token that cannot be sent is a usage error that
// names where it came from, but never quotes it.
func bearerToken(fs *flag.FlagSet, value string, envs ...string) (string, error) {
	from := "--token"
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "token" })
	if !given {
		value = ""
		for _, env := range envs {
			if v := os.Getenv(env); v != "" {
				from, value = "env "+env, v
				break
			}
		}
		if value == "" {
			return "", nil
		}
	}
	if why := tokenProblem(value); why != "" {
		return "", usagef("%s: %s", from, why)
	}
	return value, nil
}

// tokenProblem says why token cannot be sent as a bearer token, or "".
func tokenProblem(token string) string {
	switch {
	case token == "":
		return "empty: want a token, such as shoal token create or shoal ingest-token makes"
	case len(token) > live.MaxTokenLen:
		return fmt.Sprintf("%d bytes, at most %d", len(token), live.MaxTokenLen)
	case !live.ValidToken(token):
		return "not a bearer token: one word of letters, digits and -._~+/ (token68)"
	}
	return ""
}

// runIngestToken makes a token for an http connector, or gives the
// digest of one.
func runIngestToken(args []string, stdout, stderr io.Writer) (int, error) {
	return ingestTokenCommand(args, os.Stdin, stdout, stderr)
}

func ingestTokenCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal ingest-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hash := fs.Bool("hash", false, "read a token from stdin and print its SHA-256 digest instead")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal ingest-token [--hash]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Makes a random token (32 bytes from crypto/rand, in hex) for an http connector and prints it,")
		fmt.Fprintln(stderr, "then the line that lets it in, to paste into the connector's entry of the pipeline file:")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "  "+connector.TokenPrefix+"<64 hex digits>")
		fmt.Fprintln(stderr, `  token_sha256: ["<its SHA-256 digest>"]`)
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "The pipeline holds only the digest. Clients send the token as Authorization: Bearer TOKEN")
		fmt.Fprintln(stderr, "(shoal ingest --token, or env "+tokenEnv+"). To rotate, add the new digest to the list,")
		fmt.Fprintln(stderr, "move the clients to the new token, then remove the old digest. With --hash, reads a token")
		fmt.Fprintln(stderr, "(one line) from stdin and prints its digest.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if _, done, code, err := parseArgs(fs, args, 0, "no argument"); done {
		return code, err
	}
	if *hash {
		b, err := io.ReadAll(io.LimitReader(stdin, live.MaxTokenLen+3))
		if err != nil {
			return exitInternal, fmt.Errorf("reading stdin: %v", err)
		}
		token := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if len(b) > live.MaxTokenLen+2 {
			return exitUsage, usagef("stdin: more than %d bytes: a token is one line of at most %d", live.MaxTokenLen+2, live.MaxTokenLen)
		}
		if why := tokenProblem(token); why != "" {
			return exitUsage, usagef("stdin: %s", why)
		}
		fmt.Fprintln(stdout, tokenDigest(token))
		return exitValid, nil
	}
	var random [32]byte
	if _, err := rand.Read(random[:]); err != nil {
		return exitInternal, fmt.Errorf("crypto/rand: %v", err)
	}
	token := connector.TokenPrefix + hex.EncodeToString(random[:])
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stdout, "token_sha256: [%q]\n", tokenDigest(token))
	fmt.Fprintln(stderr, "shoal ingest-token: the first line is the token, shown only now: give it to the client (--token,")
	fmt.Fprintln(stderr, "or env "+tokenEnv+"). Paste the second into the connector's entry of the pipeline file.")
	return exitValid, nil
}

// tokenDigest is a token's SHA-256 digest as token_sha256 lists it.
func tokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
