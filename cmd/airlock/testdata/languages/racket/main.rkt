#lang racket/base
(define word (read-line))
(printf "OK ~a\n" word)
