(define (read-sum n)
  (do ((i 0 (+ i 1))
       (total 0 (+ total (read))))
      ((= i n) total)))

(display (read-sum (read)))
(newline)
