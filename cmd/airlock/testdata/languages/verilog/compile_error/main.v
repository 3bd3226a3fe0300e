module main;
  initial begin
    $display("%d", undefined_variable);
  end
endmodule
