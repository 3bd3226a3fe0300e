-module(main).
-export([main/1]).

main(_Args) ->
    N = list_to_integer(string:trim(io:get_line(""))),
    Line = string:trim(io:get_line("")),
    Xs = [list_to_integer(W) || W <- string:lexemes(Line, " ")],
    io:format("~p~n", [lists:sum(lists:sublist(Xs, N))]).
