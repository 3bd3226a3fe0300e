;;; main.el --- sum of n numbers  -*- lexical-binding: t; -*-
(require 'seq)

(let* ((n (string-to-number (read-from-minibuffer "")))
       (numbers (mapcar #'string-to-number
                        (split-string (read-from-minibuffer "")))))
  (princ (format "%d\n" (apply #'+ (seq-take numbers n)))))
