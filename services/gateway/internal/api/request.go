package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/airlockrun/airlock/contracts"
)

// httpError is a client error found while reading a request.
type httpError struct {
	status  int
	code    string
	field   string
	message string
	// retryAfter, when set, is sent as the Retry-After header (seconds).
	retryAfter string
}

func (e *httpError) Error() string { return e.message }

func (e *httpError) write(w http.ResponseWriter) {
	if e.retryAfter != "" {
		w.Header().Set("Retry-After", e.retryAfter)
	}
	writeError(w, e.status, e.code, e.field, e.message)
}

func (e *httpError) detail() *contracts.ErrorDetail {
	return &contracts.ErrorDetail{Code: e.code, Message: e.message, Field: e.field}
}

// validationError is the 422 for a request that breaks a rule.
func validationError(ve *contracts.ValidationError) *httpError {
	return &httpError{status: http.StatusUnprocessableEntity, code: ve.Code, field: ve.Field, message: ve.Message}
}

// checkContentType accepts application/json with any parameters.
func checkContentType(r *http.Request) *httpError {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
			return nil
		}
	}
	return &httpError{status: http.StatusUnsupportedMediaType, code: contracts.CodeUnsupportedMediaType,
		message: fmt.Sprintf("Content-Type must be application/json, got %q", ct)}
}

// idempotencyKeyHeader names the header a client retries a submission with.
const idempotencyKeyHeader = "Idempotency-Key"

// idempotencyKey reads the Idempotency-Key header ("" without one): given
// once, and a valid key (contracts.CheckIdempotencyKey).
func idempotencyKey(h http.Header) (string, *httpError) {
	values := h.Values(idempotencyKeyHeader)
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", &httpError{status: http.StatusBadRequest, code: contracts.CodeInvalidHeader,
			field: idempotencyKeyHeader, message: "Idempotency-Key must be given once"}
	}
	if err := contracts.CheckIdempotencyKey(values[0]); err != nil {
		return "", &httpError{status: http.StatusBadRequest, code: contracts.CodeInvalidHeader,
			field: idempotencyKeyHeader, message: "Idempotency-Key: " + err.Error()}
	}
	return values[0], nil
}

// waitParams reads ?wait= and ?timeout=. wait accepts true/1/yes and
// false/0/no; timeout is a Go duration ("10s") or whole seconds, capped at
// maxTimeout.
func waitParams(q url.Values, forceWait bool, def, maxTimeout time.Duration) (wait bool, timeout time.Duration, herr *httpError) {
	bad := func(field, msg string) *httpError {
		return &httpError{status: http.StatusBadRequest, code: contracts.CodeInvalidQuery, field: field, message: msg}
	}
	wait = forceWait
	if q.Has("wait") {
		switch strings.ToLower(q.Get("wait")) {
		case "true", "1", "yes", "":
			wait = true
		case "false", "0", "no":
			wait = forceWait
		default:
			return false, 0, bad("wait", fmt.Sprintf("wait must be true or false, got %q", q.Get("wait")))
		}
	}
	timeout = def
	if q.Has("timeout") {
		s := q.Get("timeout")
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			if n <= 0 {
				return false, 0, bad("timeout", fmt.Sprintf("timeout must be positive, got %q", s))
			}
			if n > int64(maxTimeout/time.Second)+1 {
				n = int64(maxTimeout/time.Second) + 1 // avoid overflow; capped below
			}
			timeout = time.Duration(n) * time.Second
		} else if d, err := time.ParseDuration(s); err == nil {
			if d <= 0 {
				return false, 0, bad("timeout", fmt.Sprintf("timeout must be positive, got %q", s))
			}
			timeout = d
		} else {
			return false, 0, bad("timeout", fmt.Sprintf("timeout must be a duration such as \"10s\" or whole seconds, got %q", s))
		}
	}
	timeout = min(timeout, maxTimeout)
	return wait, timeout, nil
}

// decodeRequest reads one JSON object from body into an ExecutionRequest:
// no unknown fields and nothing after the object.
func decodeRequest(body io.Reader) (*contracts.ExecutionRequest, *httpError) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req *contracts.ExecutionRequest
	if err := dec.Decode(&req); err != nil {
		return nil, decodeError(err)
	}
	if req == nil {
		return nil, invalidJSON("", "the request body must be a JSON object, got null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			if herr := asBodyTooLarge(err); herr != nil {
				return nil, herr
			}
		}
		return nil, invalidJSON("", "the request body must hold exactly one JSON object; there is more data after it")
	}
	return req, nil
}

func invalidJSON(field, msg string) *httpError {
	return &httpError{status: http.StatusBadRequest, code: contracts.CodeInvalidJSON, field: field, message: msg}
}

func asBodyTooLarge(err error) *httpError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: contracts.CodeBodyTooLarge,
			message: fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)}
	}
	return nil
}

// decodeError explains a json.Decoder error.
func decodeError(err error) *httpError {
	if herr := asBodyTooLarge(err); herr != nil {
		return herr
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return invalidJSON("", "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidJSON("", "the request body ends in the middle of the JSON object")
	case errors.As(err, &syntaxErr):
		return invalidJSON("", fmt.Sprintf("malformed JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: ")))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return invalidJSON("", fmt.Sprintf("the request body must be a JSON object, got %s", typeErr.Value))
		}
		return invalidJSON(typeErr.Field, fmt.Sprintf("field %q must be %s, got %s", typeErr.Field, jsonKind(typeErr), typeErr.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if s, uerr := strconv.Unquote(name); uerr == nil {
			name = s
		}
		return invalidJSON(name, fmt.Sprintf("unknown field %q", name))
	}
	return invalidJSON("", "could not read the request body: "+err.Error())
}

// jsonKind names the JSON type a Go type is decoded from.
func jsonKind(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another type"
}
