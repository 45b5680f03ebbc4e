package graphql

import (
	"errors"
	"fmt"

	"github.com/vektah/gqlparser/v2/ast"
)

// Codes a field's error carries as extensions.code, so that a client can
// tell an error that left nothing done from one whose outcome is
// unknown without reading its message. They are the codes of core/live's
// REST error bodies; Data implementations return theirs in a
// CodedError.
const (
	CodeBadRequest         = "bad_request"         // an argument is missing, unknown or not of its type: nothing was done
	CodeForbidden          = "forbidden"           // the caller's rights do not allow it: nothing was done
	CodeNotFound           = "not_found"           // the object to change does not exist: nothing was done
	CodeConflict           = "conflict"            // the key is taken: nothing was done
	CodePreconditionFailed = "precondition_failed" // ifRevision did not hold: nothing was done
	CodeRefused            = "refused"             // over a limit of the request, or refused by a service: nothing was done
	CodeOutcomeUnknown     = "outcome_unknown"     // it may or may not have taken effect
	CodeInternal           = "internal"            // the server failed
)

// statusCodes pairs the HTTP statuses core/live answers with their
// codes: one word per kind of failure a program may act on. It is the
// one table of both directions, StatusCode and CodeStatus.
var statusCodes = []struct {
	status int
	code   string
}{
	{400, CodeBadRequest},
	{401, "unauthenticated"},
	{403, CodeForbidden},
	{404, CodeNotFound},
	{405, "method_not_allowed"},
	{409, CodeConflict},
	{412, CodePreconditionFailed},
	{413, "too_large"},
	{415, "unsupported_media_type"},
	{422, CodeRefused},
	{429, "busy"},
	{501, "not_implemented"},
	{503, "unavailable"},
	{504, CodeOutcomeUnknown},
}

// StatusCode is the code of an error answered with HTTP status: the
// table's, else internal for a 5xx and error for any other.
func StatusCode(status int) string {
	for _, sc := range statusCodes {
		if sc.status == status {
			return sc.code
		}
	}
	if status >= 500 {
		return CodeInternal
	}
	return "error"
}

// CodeStatus is the HTTP status of an error's code, the inverse of
// StatusCode: 500 for internal, and ok false for a code not in the
// table.
func CodeStatus(code string) (status int, ok bool) {
	for _, sc := range statusCodes {
		if sc.code == code {
			return sc.status, true
		}
	}
	if code == CodeInternal {
		return 500, true
	}
	return 0, false
}

// CodedError is an error with its code, which a field's error carries
// as extensions.code. A field whose error has no code (none in its
// chain) carries none: its outcome may be unknown.
type CodedError struct {
	Code string
	Err  error
}

func (e *CodedError) Error() string { return e.Err.Error() }
func (e *CodedError) Unwrap() error { return e.Err }

// codedf is fmt.Errorf with a code.
func codedf(code, format string, args ...any) error {
	return &CodedError{Code: code, Err: fmt.Errorf(format, args...)}
}

// resolverError records a resolver's error at its field, with its code
// when it has one.
func (e *executor) resolverError(f *ast.Field, path ast.Path, err error) {
	e.fieldError(f, path, err.Error())
	var c *CodedError
	if errors.As(err, &c) && c.Code != "" {
		e.errs[len(e.errs)-1].Extensions = map[string]any{"code": c.Code}
	}
}
