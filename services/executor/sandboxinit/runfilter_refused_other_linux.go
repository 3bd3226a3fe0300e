//go:build !amd64 && !arm64

package sandboxinit

// runFilterRefused is empty where RunFilter is not supported.
var runFilterRefused []uint32
