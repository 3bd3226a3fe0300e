(use-modules (ice-9 rdelim))
(let ((word (read-line)))
  (display (string-append "OK " word))
  (newline))
