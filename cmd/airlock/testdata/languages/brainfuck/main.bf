Print "OK " then echo stdin up to the first newline and end with a newline
++++++++[>++++++++++<-]>-.        O (79)
----.                             K (75)
>++++[>++++++++<-]>.              space (32)
[-]<<[-]
,----------[++++++++++.,----------]
++++++++++.
