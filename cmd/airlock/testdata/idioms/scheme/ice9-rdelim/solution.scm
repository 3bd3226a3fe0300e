(use-modules (ice-9 rdelim)
             (srfi srfi-1))

(define (main)
  (let* ((n (string->number (read-line)))
         (words (string-tokenize (read-line)))
         (numbers (map string->number (take words n))))
    (format #t "~a~%" (apply + numbers))))

(main)
