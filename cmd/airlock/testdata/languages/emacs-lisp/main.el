(let ((word (string-trim (read-from-minibuffer ""))))
  (princ (format "OK %s\n" word)))
