package web

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

// Error is an HTTP error answer: a client error found while reading a
// request, or a failure translated by ErrorOf.
type Error struct {
	Status  int
	Code    string
	Field   string
	Message string
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter string
}

func (e *Error) Error() string { return e.Message }

// Write answers e as a contracts.ErrorBody.
func (e *Error) Write(w http.ResponseWriter) {
	if e.RetryAfter != "" {
		w.Header().Set("Retry-After", e.RetryAfter)
	}
	WriteError(w, e.Status, e.Code, e.Field, e.Message)
}

// Detail is e as the error of a JSON body.
func (e *Error) Detail() *contracts.ErrorDetail {
	return &contracts.ErrorDetail{Code: e.Code, Message: e.Message, Field: e.Field}
}

// FromValidation is the 422 for a request that breaks a rule.
func FromValidation(ve *contracts.ValidationError) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: ve.Code, Field: ve.Field, Message: ve.Message}
}

// CheckContentType accepts application/json with any parameters.
func CheckContentType(r *http.Request) *Error {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
			return nil
		}
	}
	return &Error{Status: http.StatusUnsupportedMediaType, Code: contracts.CodeUnsupportedMediaType,
		Message: fmt.Sprintf("Content-Type must be application/json, got %q", ct)}
}

// IdempotencyKeyHeader names the header a client retries a submission with.
const IdempotencyKeyHeader = "Idempotency-Key"

// IdempotencyKey reads the Idempotency-Key header ("" without one): given
// once, and a valid key (contracts.CheckIdempotencyKey).
func IdempotencyKey(h http.Header) (string, *Error) {
	values := h.Values(IdempotencyKeyHeader)
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", &Error{Status: http.StatusBadRequest, Code: contracts.CodeInvalidHeader,
			Field: IdempotencyKeyHeader, Message: "Idempotency-Key must be given once"}
	}
	if err := contracts.CheckIdempotencyKey(values[0]); err != nil {
		return "", &Error{Status: http.StatusBadRequest, Code: contracts.CodeInvalidHeader,
			Field: IdempotencyKeyHeader, Message: "Idempotency-Key: " + err.Error()}
	}
	return values[0], nil
}

// WaitParams reads ?wait= and ?timeout=. wait accepts true/1/yes and
// false/0/no; timeout is a Go duration ("10s") or whole seconds, capped at
// maxTimeout.
func WaitParams(q url.Values, forceWait bool, def, maxTimeout time.Duration) (wait bool, timeout time.Duration, herr *Error) {
	bad := func(field, msg string) *Error {
		return &Error{Status: http.StatusBadRequest, Code: contracts.CodeInvalidQuery, Field: field, Message: msg}
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

// DecodeRequest reads one JSON object from body into an ExecutionRequest:
// no unknown fields and nothing after the object.
func DecodeRequest(body io.Reader) (*contracts.ExecutionRequest, *Error) {
	return DecodeObject[contracts.ExecutionRequest](body)
}

// DecodeObject reads one JSON object from body into a T: no unknown fields
// and nothing after the object.
func DecodeObject[T any](body io.Reader) (*T, *Error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req *T
	if err := dec.Decode(&req); err != nil {
		return nil, DecodeError(err)
	}
	if req == nil {
		return nil, InvalidJSON("", "the request body must be a JSON object, got null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			if herr := BodyTooLarge(err); herr != nil {
				return nil, herr
			}
		}
		return nil, InvalidJSON("", "the request body must hold exactly one JSON object; there is more data after it")
	}
	return req, nil
}

// Unprocessable is a 422 invalid_request about field.
func Unprocessable(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: contracts.CodeInvalidRequest, Field: field,
		Message: fmt.Sprintf(format, args...)}
}

func InvalidJSON(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: contracts.CodeInvalidJSON, Field: field, Message: msg}
}

func BodyTooLarge(err error) *Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: contracts.CodeBodyTooLarge,
			Message: fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)}
	}
	return nil
}

// DecodeError explains a json.Decoder error.
func DecodeError(err error) *Error {
	if herr := BodyTooLarge(err); herr != nil {
		return herr
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return InvalidJSON("", "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return InvalidJSON("", "the request body ends in the middle of the JSON object")
	case errors.As(err, &syntaxErr):
		return InvalidJSON("", fmt.Sprintf("malformed JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: ")))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return InvalidJSON("", fmt.Sprintf("the request body must be a JSON object, got %s", typeErr.Value))
		}
		return InvalidJSON(typeErr.Field, fmt.Sprintf("field %q must be %s, got %s", typeErr.Field, jsonKind(typeErr), typeErr.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if s, uerr := strconv.Unquote(name); uerr == nil {
			name = s
		}
		return InvalidJSON(name, fmt.Sprintf("unknown field %q", name))
	}
	return InvalidJSON("", "could not read the request body: "+err.Error())
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

// BatchKey is the idempotency key of entry i of a batch sent with key:
// "<key>#<i>" ("" without a key).
func BatchKey(key string, i int) string {
	if key == "" {
		return ""
	}
	return key + "#" + strconv.Itoa(i)
}

// CheckBatchKey refuses a key too long to name the n entries of a batch.
func CheckBatchKey(key string, n int) *Error {
	if key == "" || contracts.CheckIdempotencyKey(BatchKey(key, n-1)) == nil {
		return nil
	}
	return &Error{Status: http.StatusBadRequest, Code: contracts.CodeInvalidHeader, Field: IdempotencyKeyHeader,
		Message: fmt.Sprintf("Idempotency-Key of a batch of %d must leave room for \"#%d\" within %d characters", n, n-1, contracts.MaxIdempotencyKey)}
}
