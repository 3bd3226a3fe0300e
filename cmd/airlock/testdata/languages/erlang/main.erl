-module(main).
-export([main/1]).

main(_Args) ->
    Word = string:trim(io:get_line("")),
    io:format("OK ~s~n", [Word]).
