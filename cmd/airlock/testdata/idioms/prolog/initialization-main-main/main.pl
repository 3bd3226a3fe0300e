:- initialization(main, main).

main :-
    read_line_to_string(user_input, NLine),
    number_string(N, NLine),
    read_line_to_string(user_input, Line),
    split_string(Line, " ", " ", Parts),
    maplist(number_string, Numbers, Parts),
    length(Taken, N),
    append(Taken, _, Numbers),
    sum_list(Taken, Sum),
    format("~d~n", [Sum]).
