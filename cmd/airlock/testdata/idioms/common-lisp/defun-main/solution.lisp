(defun read-numbers (n)
  (loop repeat n collect (read *standard-input*)))

(defun main ()
  (let* ((n (parse-integer (read-line)))
         (numbers (read-numbers n)))
    (format t "~a~%" (reduce #'+ numbers))))

(main)
