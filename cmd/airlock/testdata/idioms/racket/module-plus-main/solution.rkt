#lang racket/base
(require racket/string racket/list)

(define (solve lines)
  (define n (string->number (string-trim (first lines))))
  (apply + (take (map string->number (string-split (second lines))) n)))

(module+ main
  (displayln (solve (for/list ([l (in-lines)]) l))))
