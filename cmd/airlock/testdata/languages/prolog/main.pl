main :-
    read_line_to_string(user_input, Word),
    format("OK ~w~n", [Word]).
