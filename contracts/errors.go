package contracts

// Error codes: stable, machine-readable, part of the API.
const (
	CodeInvalidJSON          = "invalid_json"           // 400
	CodeInvalidQuery         = "invalid_query"          // 400
	CodeInvalidHeader        = "invalid_header"         // 400
	CodeUnauthorized         = "unauthorized"           // 401
	CodeForbidden            = "forbidden"              // 403
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeJobTooLarge          = "job_too_large"          // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeInvalidRequest       = "invalid_request"        // 422
	CodeUnknownLanguage      = "unknown_language"       // 422
	CodeLimitTooHigh         = "limit_too_high"         // 422
	CodeUnknownProblem       = "unknown_problem"        // 422
	CodeIdempotencyKeyReused = "idempotency_key_reused" // 422
	CodeQueueFull            = "queue_full"             // 429
	CodeTenantQueueFull      = "tenant_queue_full"      // 429
	CodeRateLimited          = "rate_limited"           // 429
	CodeInternal             = "internal_error"         // 500
	CodeUnavailable          = "unavailable"            // 503
	CodeStoreUnavailable     = "store_unavailable"      // 503
	CodeNoExecutor           = "no_executor"            // 503
)

// ErrorBody is the JSON of every HTTP error: {"error": {...}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a machine code, a human message and, when one field is to
// blame, its JSON path (for example "files[0].name").
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// ValidationError is a request that breaks a rule. Code is one of the 422 codes.
type ValidationError struct {
	Code    string
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}
