main :-
    read_string(user_input, _, Input),
    split_string(Input, " \n", " \n", Parts0),
    exclude(==(""), Parts0, Parts),
    maplist(number_string, [N|Numbers], Parts),
    length(Taken, N),
    append(Taken, _, Numbers),
    sum_list(Taken, Sum),
    format("~w~n", [Sum]).
