(let ((word (string-trim '(#\Space #\Tab #\Return) (read-line))))
  (format t "OK ~a~%" word))
